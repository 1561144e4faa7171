// End-to-end test of chatting across two organisations in the browser: two real homeservers
// federating over loopback TLS (startFederatedPair), Ann on org-a's web app and Bob on org-b's,
// each in their own browser. Ann starts a direct chat with Bob by his full address; both see the
// other with their server, see each other typing, and read each other's messages live, with
// read ticks. Then a group owned by org-a: Bob's messages into it go through org-b to org-a and
// back, and Ann reads them. Every message is end-to-end encrypted: both databases hold
// ciphertext only.
//
// Runs on its own databases, made next to E2E_DATABASE_URL's (`<name>_fedweb_a`, `_b`).
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... node --test e2e/federation.test.mjs

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

import {
  assertCiphertextOnly,
  assertNoPageProblems,
  launchBrowser,
  pageOf,
  requireInputs,
  RESULTS_DIR,
  signInWithForm,
  signUpAndConfirm,
  startFederatedPair,
  waitForDeviceKeys,
} from './support.mjs'

const ANN = { username: 'ann', email: 'ann@org-a.example', fullName: 'Ann of org-a' }
const BOB = { username: 'bob', email: 'bob@org-b.example', fullName: 'Bob of org-b' }
const PASSWORD = 'two organisations, one conversation'
const GROUP = 'Across the border'
/** Texts sent in this test, in order: none may be found in either database. */
const DIRECT = ['Hello Bob from org-a', 'Hi Ann, org-b here', 'Shall we make a group?']
const IN_GROUP = ['Bob says hi to the group', 'Ann answers the group']
const SECRETS = [...DIRECT, ...IN_GROUP]

/** @type {Awaited<ReturnType<typeof startFederatedPair>> | undefined} */ let pair
/** @type {import('./support.mjs').Browser | undefined} */ let annBrowser
/** @type {import('./support.mjs').Browser | undefined} */ let bobBrowser
/** @type {string[]} */ const profileDirs = []

const servers = () => {
  assert.ok(pair, 'the servers did not start')
  return pair
}
const annId = () => `@${ANN.username}:${servers().a.serverName}`
const bobId = () => `@${BOB.username}:${servers().b.serverName}`

/**
 * A step that replays both servers' logs when it fails.
 * @param {string} name
 * @param {() => Promise<void>} fn
 */
function step(name, fn) {
  it(name, async () => {
    try {
      await fn()
    } catch (error) {
      pair?.a.server.dumpLog()
      pair?.b.server.dumpLog()
      throw error
    }
  })
}

/**
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {string} name
 */
const screenshot = (browser, name) =>
  pageOf(browser).screenshot({ path: join(RESULTS_DIR, name), fullPage: true })

/**
 * Types `text` into the open conversation's composer and sends it with Enter.
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {string} text
 */
async function send(browser, text) {
  const composer = pageOf(browser).getByRole('textbox', { name: 'Message' })
  await composer.click()
  await composer.pressSequentially(text, { delay: 10 })
  await composer.press('Enter')
}

/**
 * Waits until the open conversation shows `text` decrypted, and checks that nothing in it
 * shows as undecryptable.
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {string} text
 */
async function waitForDecrypted(browser, text) {
  const page = pageOf(browser)
  await page.getByTestId('message-body').filter({ hasText: text }).waitFor()
  assert.equal(await page.getByTestId('message-undecryptable').count(), 0)
}

/**
 * The element that shows `userId` with their server: a remote user's name carries its server in
 * a badge.
 * @param {import('playwright-core').Locator} scope
 * @param {string} server
 */
const remoteName = (scope, server) =>
  scope
    .locator(`[data-remote-server="${server}"]`)
    .filter({ has: scope.page().getByTestId('server-badge').filter({ hasText: server }) })

describe('chatting across two organisations in the browser', { timeout: 300_000 }, () => {
  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    pair = await startFederatedPair({ parleyBin, databaseUrl, suffix: 'fedweb' })
    for (let i = 0; i < 2; i += 1) {
      profileDirs.push(await mkdtemp(join(tmpdir(), 'parley-web-e2e-chromium-')))
    }
    annBrowser = await launchBrowser(profileDirs[0] ?? '')
    bobBrowser = await launchBrowser(profileDirs[1] ?? '')
    // Crypto (wasm, key queries and to-device messages over federation) and the servers'
    // outboxes take longer than page loads.
    annBrowser.context.setDefaultTimeout(30_000)
    bobBrowser.context.setDefaultTimeout(30_000)
  })

  after(async () => {
    await annBrowser?.context.close().catch(() => undefined)
    await bobBrowser?.context.close().catch(() => undefined)
    await pair?.stop()
    for (const dir of profileDirs) await rm(dir, { recursive: true, force: true })
  })

  step('Ann signs in on org-a’s web app and Bob on org-b’s', async () => {
    const { a, b } = servers()
    await signUpAndConfirm(a.server, ANN, PASSWORD)
    await signUpAndConfirm(b.server, BOB, PASSWORD)
    await signInWithForm(annBrowser, a.server.baseUrl, ANN, PASSWORD)
    await signInWithForm(bobBrowser, b.server.baseUrl, BOB, PASSWORD)
    await waitForDeviceKeys(a.databaseUrl, annId(), 1)
    await waitForDeviceKeys(b.databaseUrl, bobId(), 1)
    await pageOf(bobBrowser)
      .getByText(/no conversations yet/i)
      .waitFor()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Ann starts a direct chat with Bob by his full address; Bob reads it live', async () => {
    const { a, b } = servers()
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    await ann.getByRole('button', { name: 'New chat' }).click()
    const form = ann.getByRole('form', { name: 'New chat' })
    await form.getByLabel('Address').fill(bobId())
    await form.getByRole('button', { name: 'Start chat' }).click()

    // Bob shows as bob with org-b's server, in the header and the list.
    const title = ann.getByTestId('chat-title')
    await remoteName(title, b.serverName).waitFor()
    assert.match(await title.innerText(), /^bob\b/)
    await remoteName(ann.getByTestId('conversation'), b.serverName).waitFor()
    await ann
      .getByTestId('encryption-status')
      .and(ann.locator('[data-state="encrypted"]'))
      .waitFor()

    await send(annBrowser, DIRECT[0] ?? '')
    await ann
      .getByTestId('message')
      .filter({ hasText: DIRECT[0] })
      .locator('[data-tick]:not([data-tick="sending"]):not([data-tick="failed"])')
      .waitFor()

    // The conversation appears in Bob's list without a reload, with Ann and her server.
    const conversation = bob.getByTestId('conversation').filter({ hasText: DIRECT[0] })
    await conversation.waitFor()
    await remoteName(conversation, a.serverName).waitFor()
    await conversation.click()
    await remoteName(bob.getByTestId('chat-title'), a.serverName).waitFor()
    await waitForDecrypted(bobBrowser, DIRECT[0] ?? '')
    // Ann's message names its sender with her server, and the room says where it is hosted.
    await remoteName(bob.getByTestId('message-list'), a.serverName).first().waitFor()
    await bob.getByTestId('room-host').filter({ hasText: a.serverName }).waitFor()

    // Bob has the conversation open: Ann's message turns to read (a receipt over federation).
    await ann
      .getByTestId('message')
      .filter({ hasText: DIRECT[0] })
      .locator('[data-tick="read"]')
      .waitFor()
    await screenshot(bobBrowser, 'federation-bob-direct.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Bob replies; Ann sees him typing, then his message live', async () => {
    const { b } = servers()
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    const composer = bob.getByRole('textbox', { name: 'Message' })
    await composer.click()
    await composer.pressSequentially(DIRECT[1] ?? '', { delay: 20 })
    await ann.getByText(`bob (${b.serverName}) is typing…`).waitFor()

    await composer.press('Enter')
    await waitForDecrypted(annBrowser, DIRECT[1] ?? '')
    await ann.getByText(`bob (${b.serverName}) is typing…`).waitFor({ state: 'hidden' })
    // Bob's send went to org-a, which owns the room; his message is read once Ann has it open.
    await bob
      .getByTestId('message')
      .filter({ hasText: DIRECT[1] })
      .locator('[data-tick="read"]')
      .waitFor()

    await send(annBrowser, DIRECT[2] ?? '')
    await waitForDecrypted(bobBrowser, DIRECT[2] ?? '')
    await screenshot(annBrowser, 'federation-ann-direct.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Ann makes a group with Bob; Bob writes into it through org-b', async () => {
    const { a, b } = servers()
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    await ann.getByRole('button', { name: 'New group' }).click()
    const form = ann.getByRole('form', { name: 'New group' })
    await form.getByLabel('Name').fill(GROUP)
    await form.getByLabel('Members').fill(bobId())
    await form.getByRole('button', { name: 'Create group' }).click()
    await ann.getByTestId('chat-title').filter({ hasText: GROUP }).waitFor()
    await ann
      .getByTestId('system-line')
      .filter({ hasText: `bob (${b.serverName}) was added` })
      .waitFor()

    const group = bob.getByTestId('conversation').filter({ hasText: GROUP })
    await group.waitFor()
    await group.click()
    await bob.getByTestId('chat-title').filter({ hasText: GROUP }).waitFor()
    await bob.getByTestId('room-host').filter({ hasText: a.serverName }).waitFor()

    await send(bobBrowser, IN_GROUP[0] ?? '')
    await waitForDecrypted(annBrowser, IN_GROUP[0] ?? '')
    await remoteName(ann.getByTestId('message-list'), b.serverName).first().waitFor()
    // Accepted by org-a: not pending, not failed.
    await bob
      .getByTestId('message')
      .filter({ hasText: IN_GROUP[0] })
      .locator('[data-tick="read"]')
      .waitFor()

    await send(annBrowser, IN_GROUP[1] ?? '')
    await waitForDecrypted(bobBrowser, IN_GROUP[1] ?? '')
    await screenshot(annBrowser, 'federation-ann-group.png')
    await screenshot(bobBrowser, 'federation-bob-group.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('both databases hold the messages as ciphertext only', async () => {
    const { a, b } = servers()
    // org-a owns both rooms and org-b keeps replicas: each holds every message, encrypted.
    await assertCiphertextOnly(a.databaseUrl, SECRETS.length, SECRETS)
    await assertCiphertextOnly(b.databaseUrl, SECRETS.length, SECRETS)
  })
})
