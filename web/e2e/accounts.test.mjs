// End-to-end test of accounts and sessions in the browser, against a real homeserver: sign up,
// confirm the address through the link the server "mailed" (no SMTP: it writes .eml files to
// its mailbox folder), sign in, profile, sessions, sign out.
//
// Runs on its own database, made next to E2E_DATABASE_URL's (`<name>_accounts`), so that it
// never shares a server or data with the other test files.
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... npm run e2e

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'

import {
  assertNoPageProblems,
  createSiblingDatabase,
  launchBrowser,
  linkIn,
  pageOf,
  requireInputs,
  RESULTS_DIR,
  SERVER_NAME,
  startHomeserver,
  stepsWithServerLog,
  waitForMail,
} from './support.mjs'

const USER = {
  username: 'alice',
  email: 'alice@example.org',
  fullName: 'Alice Liddell',
  password: 'through the looking-glass 1871',
}
const USER_ID = `@${USER.username}:${SERVER_NAME}`

/** @type {{ url: string, drop: () => Promise<void> } | undefined} */ let database
/** @type {import('./support.mjs').Homeserver | undefined} */ let server
/** @type {import('./support.mjs').Browser | undefined} */ let browser
/** @type {string | undefined} */ let profileDir

const step = stepsWithServerLog(() => server)

const baseUrl = () => {
  assert.ok(server, 'the server did not start')
  return server.baseUrl
}
const at = (/** @type {string} */ path) => new URL(path, baseUrl()).href
const screenshot = (/** @type {string} */ name) =>
  pageOf(browser).screenshot({ path: join(RESULTS_DIR, name), fullPage: true })

/** @param {string} password */
async function signIn(password) {
  const page = pageOf(browser)
  const form = page.getByRole('form', { name: 'Sign in' })
  await form.getByLabel('Username or email').fill(USER.username)
  await form.getByLabel('Password', { exact: true }).fill(password)
  await form.getByRole('button', { name: 'Sign in' }).click()
}

describe('accounts and sessions in the browser', { timeout: 240_000 }, () => {
  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    database = await createSiblingDatabase(databaseUrl, 'accounts')
    server = await startHomeserver({ parleyBin, databaseUrl: database.url })
    profileDir = await mkdtemp(join(tmpdir(), 'parley-web-e2e-chromium-'))
    browser = await launchBrowser(profileDir)
  })

  after(async () => {
    await browser?.context.close().catch(() => undefined)
    await server?.stop()
    await database?.drop()
    if (profileDir) await rm(profileDir, { recursive: true, force: true })
  })

  step('signs up and is asked to check their email', async () => {
    const page = pageOf(browser)
    await page.goto(at('sign-up'))

    const form = page.getByRole('form', { name: 'Create your account' })
    await form.getByLabel('Username').fill(USER.username)
    await form.getByLabel('Email').fill(USER.email)
    await form.getByLabel('Full name').fill(USER.fullName)
    await form.getByLabel('Password', { exact: true }).fill(USER.password)
    await form.getByLabel('Confirm password').fill(USER.password)
    assert.equal(await page.getByTestId('user-id-preview').innerText(), USER_ID)
    await screenshot('sign-up.png')
    await form.getByRole('button', { name: 'Create account' }).click()

    await page.waitForURL(at('check-email'))
    await page.getByRole('heading', { level: 1, name: 'Check your email' }).waitFor()
    assert.equal(await page.getByTestId('check-email-address').innerText(), USER.email)
    await screenshot('check-email.png')

    assertNoPageProblems(browser)
  })

  step('confirms the address with the link from the mailbox', async () => {
    assert.ok(server, 'the server did not start')
    const page = pageOf(browser)
    const mail = await waitForMail(server.dataDir, {
      to: USER.email,
      filter: (candidate) => candidate.text.includes('/verify-email?token='),
    })
    const link = linkIn(mail, '/verify-email', baseUrl())

    await page.goto(link)

    await page.getByRole('heading', { level: 1, name: 'Email address confirmed' }).waitFor()
    assert.equal(await page.getByTestId('verified-email').innerText(), USER.email)
    await screenshot('email-confirmed.png')
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click()
    await page.waitForURL(at('sign-in'))

    assertNoPageProblems(browser)
  })

  step('shows a wrong password inline', async () => {
    const page = pageOf(browser)

    await signIn('not the right password')

    const error = page.getByTestId('sign-in-error')
    await error.waitFor()
    assert.match(await error.innerText(), /Wrong username or password\./)
    assert.equal(page.url(), at('sign-in'))
    await screenshot('sign-in-wrong-password.png')

    assertNoPageProblems(browser)
  })

  step('signs in, lands on the chats, and sees their profile', async () => {
    const page = pageOf(browser)

    await signIn(USER.password)

    await page.waitForURL(at('chats'))
    await page.getByRole('heading', { level: 1, name: 'Chats' }).waitFor()
    await page.goto(at('profile'))
    const userId = page.getByTestId('profile-user-id')
    await userId.waitFor()
    assert.equal(await userId.innerText(), USER_ID)
    assert.equal(await page.getByTestId('profile-full-name').innerText(), USER.fullName)
    assert.equal(await page.getByTestId('profile-email').innerText(), USER.email)
    await screenshot('profile.png')

    // The refresh token is an HttpOnly, SameSite=Strict cookie; no token is in web storage.
    assert.ok(browser)
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'parley_refresh')
    assert.ok(cookie, 'no refresh cookie')
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Strict')
    // Expressions, not functions: this file is type-checked for Node, which has no DOM.
    const storage = String(
      await page.evaluate('JSON.stringify([{ ...localStorage }, { ...sessionStorage }])'),
    )
    assert.doesNotMatch(storage, /eyJ/, 'a JWT is in web storage')
    assert.match(storage, /parley\.device_id/)

    assertNoPageProblems(browser)
  })

  step('stays signed in across page loads: the cookie restores the session', async () => {
    const page = pageOf(browser)

    await page.reload()
    await page.getByTestId('profile-user-id').waitFor()
    assert.equal(page.url(), at('profile'))

    // Signed in, the home page is the list of conversations; the profile is in the menu.
    await page.goto(baseUrl())
    await page.waitForURL(at('chats'))
    await page.getByRole('button', { name: `Account menu for ${USER_ID}` }).click()
    await page
      .getByRole('navigation', { name: 'Account', exact: true })
      .getByRole('link', { name: 'Profile' })
      .click()
    await page.waitForURL(at('profile'))
    await page.getByTestId('profile-user-id').waitFor()

    assertNoPageProblems(browser)
  })

  step('lists this session on the sessions page', async () => {
    const page = pageOf(browser)
    await page.getByRole('button', { name: `Account menu for ${USER_ID}` }).click()
    await page
      .getByRole('navigation', { name: 'Account', exact: true })
      .getByRole('link', { name: 'Sessions' })
      .click()

    await page.waitForURL(at('sessions'))
    const sessions = page.getByTestId('session')
    await sessions.first().waitFor()
    assert.equal(await sessions.count(), 1)
    const current = sessions.first()
    assert.match(await current.innerText(), /This device/)
    assert.match(await current.innerText(), /Chrome on Linux/)
    assert.match(await current.innerText(), /127\.0\.0\.1/)
    await screenshot('sessions.png')

    assertNoPageProblems(browser)
  })

  step('signs out, after which protected pages lead to sign-in', async () => {
    const page = pageOf(browser)
    await page.getByRole('button', { name: `Account menu for ${USER_ID}` }).click()
    await page.getByRole('button', { name: 'Sign out' }).click()

    await page.waitForURL(at('sign-in'))
    await page.getByText('You have signed out').waitFor()
    assert.ok(browser)
    const cookies = await browser.context.cookies()
    assert.ok(!cookies.some((c) => c.name === 'parley_refresh'), 'the refresh cookie is still set')

    await page.goto(at('profile'))
    await page.waitForURL(at('sign-in'))
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor()
    await screenshot('signed-out.png')

    assertNoPageProblems(browser)
  })

  step('works on a phone-sized screen', async () => {
    const page = pageOf(browser)
    await page.setViewportSize({ width: 390, height: 844 })

    await screenshot('phone-sign-in.png')
    await signIn(USER.password)
    // Back to the page that sent the user to sign in (the profile, in the step before).
    await page.waitForURL(at('profile'))
    await page.getByTestId('profile-user-id').waitFor()
    // Nothing may stick out sideways.
    const overflow = Number(
      await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      ),
    )
    assert.equal(overflow, 0, 'the page scrolls sideways on a phone')
    await screenshot('phone-profile.png')
    await page.getByRole('button', { name: `Account menu for ${USER_ID}` }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await page.screenshot({ path: join(RESULTS_DIR, 'phone-menu.png') })

    assertNoPageProblems(browser)
  })
})
