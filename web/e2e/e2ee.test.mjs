// End-to-end test of end-to-end encryption in the browser, against a real homeserver: Ann and
// Bob chat in a direct conversation and both read each other's messages while the database
// holds ciphertext only; Bob signs in on a second device and Ann's conversation announces it;
// Ann and Bob verify each other with emoji (SAS) and both then see the other as verified; Bob
// verifies his second device with his first, after which Ann sees that device as verified too
// (cross-signing, set up at each user's first sign-in).
//
// Runs on its own database, made next to E2E_DATABASE_URL's (`<name>_e2ee`).
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
  pageOf,
  requireInputs,
  RESULTS_DIR,
  SERVER_NAME,
  startHomeserver,
  stepsWithServerLog,
  waitForDeviceKeys,
  signInWithForm,
  signUpAndConfirm as signUpAndConfirmAt,
  assertCiphertextOnly,
} from './support.mjs'

const ANN = { username: 'ann', email: 'ann@example.org', fullName: 'Ann Example' }
const BOB = { username: 'bob', email: 'bob@example.org', fullName: 'Bob Example' }
const PASSWORD = 'correct horse battery staple 42'
const idOf = (/** @type {{ username: string }} */ user) => `@${user.username}:${SERVER_NAME}`
const SECRETS = ['The eagle lands at dawn', 'Bring the blue umbrella', 'Meet me by the old mill']

/** @type {{ url: string, drop: () => Promise<void> } | undefined} */ let database
/** @type {import('./support.mjs').Homeserver | undefined} */ let server
/** @type {import('./support.mjs').Browser | undefined} */ let annBrowser
/** @type {import('./support.mjs').Browser | undefined} */ let bobBrowser
/** Bob's second device. */
/** @type {import('./support.mjs').Browser | undefined} */ let bobPhone
/** @type {string[]} */ const profileDirs = []

const step = stepsWithServerLog(() => server)

const baseUrl = () => {
  assert.ok(server, 'the server did not start')
  return server.baseUrl
}

/** @param {{ username: string, email: string, fullName: string }} user */
async function signUpAndConfirm(user) {
  assert.ok(server, 'the server did not start')
  await signUpAndConfirmAt(server, user, PASSWORD)
}

/**
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {{ username: string }} user
 */
const signIn = (browser, user) => signInWithForm(browser, baseUrl(), user, PASSWORD)

/**
 * @param {{ username: string }} user
 * @param {number} devices
 */
function waitForKeys(user, devices) {
  assert.ok(database, 'no database')
  return waitForDeviceKeys(database.url, idOf(user), devices)
}

/** @param {import('./support.mjs').Browser | undefined} browser */
const deviceIdOf = async (browser) =>
  String(await pageOf(browser).evaluate("localStorage.getItem('parley.device_id') ?? ''"))

/**
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {string} name
 */
const screenshot = (browser, name) =>
  pageOf(browser).screenshot({ path: join(RESULTS_DIR, name), fullPage: true })

/**
 * The emoji a verification dialog shows, as "symbol description" strings.
 * @param {import('./support.mjs').Browser | undefined} browser
 */
async function emojiOf(browser) {
  const dialog = pageOf(browser).getByTestId('verification')
  await dialog.and(pageOf(browser).locator('[data-step="emoji"]')).waitFor()
  const emoji = dialog.getByTestId('sas-emoji')
  assert.equal(await emoji.count(), 7)
  return emoji.allInnerTexts()
}

/**
 * Both sides compare the emoji, see the same ones, and confirm.
 * @param {import('./support.mjs').Browser | undefined} first
 * @param {import('./support.mjs').Browser | undefined} second
 */
async function compareAndConfirm(first, second) {
  const [a, b] = await Promise.all([emojiOf(first), emojiOf(second)])
  assert.deepEqual(a, b, 'both screens show the same emoji')
  await screenshot(first, 'e2ee-emoji.png')
  for (const browser of [first, second]) {
    await pageOf(browser)
      .getByTestId('verification')
      .getByRole('button', { name: 'They match' })
      .click()
  }
  for (const browser of [first, second]) {
    await pageOf(browser).locator('[data-testid="verification"][data-step="done"]').waitFor()
  }
  await screenshot(second, 'e2ee-verified.png')
  for (const browser of [first, second]) {
    await pageOf(browser).getByTestId('verification').getByRole('button', { name: 'Done' }).click()
  }
}

describe('end-to-end encryption in the browser', { timeout: 300_000 }, () => {
  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    database = await createSiblingDatabase(databaseUrl, 'e2ee')
    server = await startHomeserver({ parleyBin, databaseUrl: database.url })
    for (let i = 0; i < 3; i += 1) {
      profileDirs.push(await mkdtemp(join(tmpdir(), 'parley-web-e2e-chromium-')))
    }
    annBrowser = await launchBrowser(profileDirs[0] ?? '')
    bobBrowser = await launchBrowser(profileDirs[1] ?? '')
    // The crypto work (wasm, key queries, to-device round trips) takes longer than page loads.
    annBrowser.context.setDefaultTimeout(20_000)
    bobBrowser.context.setDefaultTimeout(20_000)
  })

  after(async () => {
    for (const browser of [annBrowser, bobBrowser, bobPhone]) {
      await browser?.context.close().catch(() => undefined)
    }
    await server?.stop()
    await database?.drop()
    for (const dir of profileDirs) await rm(dir, { recursive: true, force: true })
  })

  step('Ann and Bob sign in; each device sets up cross-signing', async () => {
    await signUpAndConfirm(ANN)
    await signUpAndConfirm(BOB)
    await signIn(annBrowser, ANN)
    await signIn(bobBrowser, BOB)
    await waitForKeys(ANN, 1)
    await waitForKeys(BOB, 1)
    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('they chat in a direct conversation and both read the messages', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    await ann.getByRole('button', { name: 'New chat' }).click()
    const form = ann.getByRole('form', { name: 'New chat' })
    await form.getByLabel('Address').fill(idOf(BOB))
    await form.getByRole('button', { name: 'Start chat' }).click()
    await ann
      .getByTestId('chat-title')
      .filter({ hasText: idOf(BOB) })
      .waitFor()
    const status = ann.getByTestId('encryption-status')
    await status.and(ann.locator('[data-state="encrypted"]')).waitFor()
    assert.match(await status.innerText(), /Encrypted · not verified/)

    const composer = ann.getByRole('textbox', { name: 'Message' })
    await composer.fill(SECRETS[0] ?? '')
    await composer.press('Enter')

    await bob
      .getByTestId('conversation')
      .filter({ hasText: idOf(ANN) })
      .click()
    await bob.getByTestId('message-body').filter({ hasText: SECRETS[0] }).waitFor()
    const bobComposer = bob.getByRole('textbox', { name: 'Message' })
    await bobComposer.fill(SECRETS[1] ?? '')
    await bobComposer.press('Enter')
    await ann.getByTestId('message-body').filter({ hasText: SECRETS[1] }).waitFor()
    // Nothing shows as undecryptable on either side.
    assert.equal(await ann.getByTestId('message-undecryptable').count(), 0)
    assert.equal(await bob.getByTestId('message-undecryptable').count(), 0)
    await screenshot(annBrowser, 'e2ee-chat.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('the database holds the messages as ciphertext only', async () => {
    assert.ok(database, 'no database')
    await assertCiphertextOnly(database.url, 2, SECRETS)
  })

  step('Bob signs in on a second device; Ann’s conversation announces it', async () => {
    bobPhone = await launchBrowser(profileDirs[2] ?? '', { viewport: { width: 390, height: 844 } })
    bobPhone.context.setDefaultTimeout(20_000)
    await signIn(bobPhone, BOB)
    await waitForKeys(BOB, 2)
    const phoneDevice = await deviceIdOf(bobPhone)
    assert.ok(phoneDevice, 'the phone has a device id')

    const ann = pageOf(annBrowser)
    const notice = ann.getByTestId('device-notice').filter({ hasText: phoneDevice })
    await notice.waitFor()
    assert.match(await notice.innerText(), new RegExp(`${idOf(BOB)} has a new device`))
    await screenshot(annBrowser, 'e2ee-new-device.png')

    // The new device has no keys for what was said before it existed: it says so, with the
    // reason, instead of showing empty bubbles.
    const phone = pageOf(bobPhone)
    await phone
      .getByTestId('conversation')
      .filter({ hasText: idOf(ANN) })
      .click()
    const undecryptable = phone.getByTestId('message-undecryptable')
    await undecryptable.nth(1).waitFor()
    assert.equal(await undecryptable.count(), 2)
    for (const text of await undecryptable.allInnerTexts()) {
      assert.match(text, /Unable to decrypt this message\n.+/)
    }
    // What Ann sends now reaches the new device too.
    const composer = ann.getByRole('textbox', { name: 'Message' })
    await composer.fill(SECRETS[2] ?? '')
    await composer.press('Enter')
    await phone.getByTestId('message-body').filter({ hasText: SECRETS[2] }).waitFor()
    await pageOf(bobBrowser).getByTestId('message-body').filter({ hasText: SECRETS[2] }).waitFor()
    await screenshot(bobPhone, 'e2ee-phone.png')

    // The second device finds cross-signing already set up: it asks to be verified.
    await phone.getByTestId('encryption-status').click()
    const details = phone.getByRole('dialog', { name: 'Encryption' })
    await details
      .locator('[data-testid="cross-signing"][data-state="needs-verification"]')
      .waitFor()
    await details.getByRole('button', { name: 'Close' }).click()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobPhone)
  })

  step('Ann and Bob verify each other with emoji and both see the other verified', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    const bobDevice = await deviceIdOf(bobBrowser)

    const details = ann.getByRole('dialog', { name: 'Encryption' })
    await ann.getByTestId('encryption-status').click()
    await details.locator('[data-testid="cross-signing"][data-state="ready"]').waitFor()
    const bobKeys = details.locator(`[data-testid="user-keys"][data-user="${idOf(BOB)}"]`)
    await bobKeys.getByTestId('user-unverified').waitFor()
    await bobKeys
      .locator(`[data-testid="device"][data-device="${bobDevice}"]`)
      .getByRole('button', { name: 'Verify' })
      .click()

    // Bob's screen asks him.
    const incoming = bob.locator('[data-testid="verification"][data-step="incoming"]')
    await incoming.waitFor()
    assert.match(await incoming.innerText(), new RegExp(`${idOf(ANN)} wants to verify`))
    await incoming.getByRole('button', { name: 'Accept' }).click()

    await compareAndConfirm(annBrowser, bobBrowser)

    await bobKeys.getByTestId('user-verified').waitFor()
    await details.getByRole('button', { name: 'Close' }).click()
    const annStatus = ann.getByTestId('encryption-status')
    await annStatus.and(ann.locator('[data-state="verified"]')).waitFor()
    assert.match(await annStatus.innerText(), /Encrypted · verified/)

    // Bob sees Ann verified too.
    const bobStatus = bob.getByTestId('encryption-status')
    await bobStatus.and(bob.locator('[data-state="verified"]')).waitFor()
    await bobStatus.click()
    const bobDetails = bob.getByRole('dialog', { name: 'Encryption' })
    await bobDetails
      .locator(`[data-testid="user-keys"][data-user="${idOf(ANN)}"]`)
      .getByTestId('user-verified')
      .waitFor()
    await screenshot(bobBrowser, 'e2ee-bob-details.png')
    await bobDetails.getByRole('button', { name: 'Close' }).click()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Bob verifies his second device with his first; Ann then trusts it too', async () => {
    const bob = pageOf(bobBrowser)
    const phone = pageOf(bobPhone)
    const phoneDevice = await deviceIdOf(bobPhone)

    await bob.getByTestId('encryption-status').click()
    const details = bob.getByRole('dialog', { name: 'Encryption' })
    await details
      .locator(`[data-testid="user-keys"][data-user="${idOf(BOB)}"]`)
      .locator(`[data-testid="device"][data-device="${phoneDevice}"]`)
      .getByRole('button', { name: 'Verify' })
      .click()
    const incoming = phone.locator('[data-testid="verification"][data-step="incoming"]')
    await incoming.waitFor()
    assert.match(await incoming.innerText(), /Another of your devices/)
    await incoming.getByRole('button', { name: 'Accept' }).click()
    await compareAndConfirm(bobBrowser, bobPhone)
    await details
      .locator(`[data-testid="device"][data-device="${phoneDevice}"][data-verified="true"]`)
      .waitFor()
    await details.getByRole('button', { name: 'Close' }).click()

    // Bob's self-signing key now vouches for the phone, and Ann verified Bob: Ann trusts it.
    const ann = pageOf(annBrowser)
    await ann.getByTestId('encryption-status').click()
    const annDetails = ann.getByRole('dialog', { name: 'Encryption' })
    await annDetails
      .locator(`[data-testid="user-keys"][data-user="${idOf(BOB)}"]`)
      .locator(`[data-testid="device"][data-device="${phoneDevice}"][data-verified="true"]`)
      .waitFor()
    await screenshot(annBrowser, 'e2ee-ann-details.png')
    await annDetails.getByRole('button', { name: 'Close' }).click()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
    assertNoPageProblems(bobPhone)
  })
})
