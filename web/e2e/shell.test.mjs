// End-to-end test of the web shell as the homeserver serves it.
//
// Starts a real `parley serve` (env E2E_PARLEY_BIN) against a fresh, empty Postgres database
// (env E2E_DATABASE_URL), serving the built app from web/dist (`npm run build` first), then
// drives Debian's Chromium through playwright-core.
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... npm run e2e

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'

import {
  assertNoPageProblems,
  launchBrowser,
  pageOf,
  requireInputs,
  RESULTS_DIR,
  SERVER_NAME,
  SHUTDOWN_DEADLINE_MS,
  startHomeserver,
  stepsWithServerLog,
  withDeadline,
} from './support.mjs'

/** @type {import('./support.mjs').Homeserver | undefined} */ let server
/** @type {import('./support.mjs').Browser | undefined} */ let browser
/** @type {string | undefined} */ let profileDir

const step = stepsWithServerLog(() => server)

const baseUrl = () => {
  assert.ok(server, 'the server did not start')
  return server.baseUrl
}

describe('web shell served by the homeserver', { timeout: 180_000 }, () => {
  before(async () => {
    const inputs = await requireInputs()
    server = await startHomeserver(inputs)
    profileDir = await mkdtemp(join(tmpdir(), 'parley-web-e2e-chromium-'))
    browser = await launchBrowser(profileDir)
  })

  after(async () => {
    // Clean up whatever was started, even if a step failed half-way.
    await browser?.context.close().catch(() => undefined)
    await server?.stop()
    if (profileDir) await rm(profileDir, { recursive: true, force: true })
  })

  step('welcomes the user to the server, by name and version', async () => {
    const page = pageOf(browser)
    const apiResponse = await fetch(new URL('api/v1/server', baseUrl()))
    assert.equal(apiResponse.status, 200)
    const info = /** @type {{ server_name: string, version: string }} */ (await apiResponse.json())
    assert.equal(info.server_name, SERVER_NAME)

    const response = await page.goto(baseUrl())

    // The checks for CSP violations below only mean something if the policy is in force.
    assert.ok(response, 'no response for the base URL')
    const csp = response.headers()['content-security-policy'] ?? ''
    assert.match(csp, /style-src 'self'/, `unexpected Content-Security-Policy: "${csp}"`)
    assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/)

    const serverName = page.locator('[data-testid=server-name]')
    await serverName.waitFor({ state: 'visible' })
    assert.equal((await serverName.innerText()).trim(), SERVER_NAME)
    const version = page.locator('[data-testid=server-version]')
    await version.waitFor({ state: 'visible' })
    assert.equal((await version.innerText()).trim(), info.version)
    assert.match(await page.title(), new RegExp(SERVER_NAME.replaceAll('.', '\\.')))
    // Nobody is signed in, so the welcome card offers to sign in once the session check is done.
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).waitFor()
    await page.screenshot({ path: join(RESULTS_DIR, 'home.png'), fullPage: true })

    assertNoPageProblems(browser)
  })

  step('opens the sign-in form from the Sign in button', async () => {
    const page = pageOf(browser)
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click()

    await page.waitForURL(new URL('sign-in', baseUrl()).href)
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ state: 'visible' })
    await page.getByLabel('Username or email').waitFor({ state: 'visible' })
    await page.screenshot({ path: join(RESULTS_DIR, 'sign-in.png'), fullPage: true })

    assertNoPageProblems(browser)
  })

  step('serves the app for unknown deep links, which shows its 404 page', async () => {
    const page = pageOf(browser)
    const response = await page.goto(new URL('some/deep/client/route', baseUrl()).href)

    assert.ok(response, 'no response for the deep link')
    assert.match(response.headers()['content-type'] ?? '', /^text\/html/)
    const notFound = page.getByTestId('not-found')
    await notFound.waitFor({ state: 'visible' })
    assert.match(await notFound.innerText(), /Page not found/)
    assert.match(await notFound.innerText(), /\/some\/deep\/client\/route/)
    await page.screenshot({ path: join(RESULTS_DIR, 'not-found.png'), fullPage: true })

    assertNoPageProblems(browser)
  })

  step('shuts down cleanly on SIGTERM', async () => {
    assert.ok(server, 'the server did not start')
    server.kill('SIGTERM')

    const { code, signal } = await withDeadline(
      server.exited,
      SHUTDOWN_DEADLINE_MS,
      'waiting for parley to exit after SIGTERM',
    )

    assert.equal(signal, null, `parley was killed by ${String(signal)} instead of exiting`)
    assert.equal(code, 0, `parley exited with code ${String(code)}`)
  })
})
