// End-to-end test of messaging in the browser, against a real homeserver: two people in two
// separate browsers; one creates a group with the other, both open it, typing shows on the other
// screen, messages arrive live (no reload), and the sender's ticks turn to "read". Every
// message is end-to-end encrypted: the database holds ciphertext only.
//
// Runs on its own database, made next to E2E_DATABASE_URL's (`<name>_chat`).
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... npm run e2e

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import { promisify } from 'node:util'

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
const GROUP = 'Tea party'
/** Texts sent in this test: none may be found in the database. */
const SECRETS = ['Hello Bob', 'how are you?', 'Psst']

const execFileAsync = promisify(execFile)

/** @type {{ url: string, drop: () => Promise<void> } | undefined} */ let database
/** @type {import('./support.mjs').Homeserver | undefined} */ let server
/** @type {import('./support.mjs').Browser | undefined} */ let annBrowser
/** @type {import('./support.mjs').Browser | undefined} */ let bobBrowser
/** @type {string[]} */ const profileDirs = []

const step = stepsWithServerLog(() => server)

const baseUrl = () => {
  assert.ok(server, 'the server did not start')
  return server.baseUrl
}
const at = (/** @type {string} */ path) => new URL(path, baseUrl()).href

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
 * @param {import('./support.mjs').Browser | undefined} browser
 * @param {string} name
 */
const screenshot = (browser, name) =>
  pageOf(browser).screenshot({ path: join(RESULTS_DIR, name), fullPage: true })

describe('messaging in the browser', { timeout: 240_000 }, () => {
  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    database = await createSiblingDatabase(databaseUrl, 'chat')
    server = await startHomeserver({ parleyBin, databaseUrl: database.url })
    for (let i = 0; i < 2; i += 1) {
      profileDirs.push(await mkdtemp(join(tmpdir(), 'parley-web-e2e-chromium-')))
    }
    annBrowser = await launchBrowser(profileDirs[0] ?? '')
    bobBrowser = await launchBrowser(profileDirs[1] ?? '')
  })

  after(async () => {
    await annBrowser?.context.close().catch(() => undefined)
    await bobBrowser?.context.close().catch(() => undefined)
    await server?.stop()
    await database?.drop()
    for (const dir of profileDirs) await rm(dir, { recursive: true, force: true })
  })

  step('both sign up and sign in, each in their own browser', async () => {
    await signUpAndConfirm(ANN)
    await signUpAndConfirm(BOB)
    await signIn(annBrowser, ANN)
    await signIn(bobBrowser, BOB)
    assert.ok(database, 'no database')
    await waitForDeviceKeys(database.url, idOf(ANN), 1)
    await waitForDeviceKeys(database.url, idOf(BOB), 1)
    await pageOf(bobBrowser)
      .getByText(/no conversations yet/i)
      .waitFor()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Ann creates a group with Bob; it appears in Bob’s list live', async () => {
    const ann = pageOf(annBrowser)
    await ann.getByRole('button', { name: 'New group' }).click()
    const form = ann.getByRole('form', { name: 'New group' })
    await form.getByLabel('Name').fill(GROUP)
    await form.getByLabel('Members').fill('not-an-address')
    await form.getByRole('button', { name: 'Create group' }).click()
    await form.getByText(/Not an address: not-an-address/).waitFor()
    await form.getByLabel('Members').fill(idOf(BOB))
    await form.getByRole('button', { name: 'Create group' }).click()

    await ann.waitForURL(/\/chats\/.+/)
    await ann.getByTestId('chat-title').filter({ hasText: GROUP }).waitFor()
    await ann
      .getByTestId('system-line')
      .filter({ hasText: `${idOf(BOB)} was added` })
      .waitFor()

    const bob = pageOf(bobBrowser)
    const conversation = bob.getByTestId('conversation').filter({ hasText: GROUP })
    await conversation.waitFor()
    await conversation.click()
    await bob.getByTestId('chat-title').filter({ hasText: GROUP }).waitFor()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Bob sees Ann typing, then her message live, and Ann sees it read', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    const composer = ann.getByRole('textbox', { name: 'Message' })
    await composer.click()
    await composer.pressSequentially('Hello Bob', { delay: 20 })
    await bob.getByText('ann is typing…').waitFor()
    await screenshot(bobBrowser, 'chat-typing.png')

    await composer.press('Enter')
    await bob.getByTestId('message-body').filter({ hasText: 'Hello Bob' }).waitFor()
    await bob.getByText('ann is typing…').waitFor({ state: 'hidden' })

    // Bob has the conversation open: Ann's message turns to read.
    const mine = ann.getByTestId('message').filter({ hasText: 'Hello Bob' })
    await mine.locator('[data-tick="read"]').waitFor()
    await screenshot(annBrowser, 'chat-read.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Bob replies (Shift+Enter makes a new line) and Ann sees it live', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    const composer = bob.getByRole('textbox', { name: 'Message' })
    await composer.click()
    await composer.pressSequentially('Hi Ann')
    await composer.press('Shift+Enter')
    await composer.pressSequentially('how are you?')
    await composer.press('Enter')

    const reply = ann.getByTestId('message-body').filter({ hasText: 'how are you?' })
    await reply.waitFor()
    assert.equal(await reply.innerText(), 'Hi Ann\nhow are you?')
    await bob
      .getByTestId('message')
      .filter({ hasText: 'how are you?' })
      .locator('[data-tick="read"]')
      .waitFor()
    await screenshot(annBrowser, 'chat-ann.png')
    await screenshot(bobBrowser, 'chat-bob.png')

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Ann makes Bob an admin and renames the group; Bob sees both live', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    await ann.getByRole('button', { name: 'Group details' }).click()
    const panel = ann.getByRole('dialog', { name: 'Group details' })
    const bobRow = panel.getByTestId('member').filter({ hasText: idOf(BOB) })
    await bobRow.getByRole('button', { name: 'Make admin' }).click()
    await bobRow.getByRole('button', { name: 'Remove admin' }).waitFor()
    await panel.getByLabel('Name').fill(`${GROUP} at the Hatter’s`)
    await panel.getByRole('button', { name: 'Save' }).click()
    await screenshot(annBrowser, 'chat-group-details.png')
    await panel.getByRole('button', { name: 'Close' }).click()

    await bob
      .getByTestId('system-line')
      .filter({ hasText: `${idOf(BOB)} was made admin` })
      .waitFor()
    await bob
      .getByTestId('chat-title')
      .filter({ hasText: `${GROUP} at the Hatter’s` })
      .waitFor()
    // Bob is an admin now, not an owner: he may not make anyone an owner.
    await bob.getByRole('button', { name: 'Group details' }).click()
    const bobPanel = bob.getByRole('dialog', { name: 'Group details' })
    await bobPanel.getByTestId('member').first().waitFor()
    assert.equal(await bobPanel.getByRole('button', { name: 'Make owner' }).count(), 0)
    await bobPanel.getByRole('button', { name: 'Close' }).click()

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('Ann starts a direct chat with Bob; Bob sees it with an unread badge', async () => {
    const ann = pageOf(annBrowser)
    const bob = pageOf(bobBrowser)
    await ann.getByRole('button', { name: 'New chat' }).click()
    const form = ann.getByRole('form', { name: 'New chat' })
    await form.getByLabel('Address').fill('bob')
    await form.getByRole('button', { name: 'Start chat' }).click()
    await form.getByText('Enter an address like @name:server.').waitFor()
    await form.getByLabel('Address').fill(`@nobody:${SERVER_NAME}`)
    await form.getByRole('button', { name: 'Start chat' }).click()
    await form.getByRole('alert').waitFor()
    await form.getByLabel('Address').fill(idOf(BOB))
    await form.getByRole('button', { name: 'Start chat' }).click()
    await ann
      .getByTestId('chat-title')
      .filter({ hasText: idOf(BOB) })
      .waitFor()
    const composer = ann.getByRole('textbox', { name: 'Message' })
    await composer.fill('Psst')
    await composer.press('Enter')
    await ann.getByTestId('message').filter({ hasText: 'Psst' }).locator('[data-tick]').waitFor()

    const direct = bob.getByTestId('conversation').filter({ hasText: 'Psst' })
    // The server counts every event from others after the read marker (the room's own too).
    await direct.getByTestId('unread-badge').waitFor()
    await screenshot(bobBrowser, 'chat-unread.png')
    await direct.click()
    await bob.getByTestId('message-body').filter({ hasText: 'Psst' }).waitFor()
    await direct.getByTestId('unread-badge').waitFor({ state: 'detached' })

    assertNoPageProblems(annBrowser)
    assertNoPageProblems(bobBrowser)
  })

  step('the database holds every message as ciphertext only', async () => {
    assert.ok(database, 'no database')
    // Three messages from the test: all of them Megolm-encrypted, none in plaintext.
    await assertCiphertextOnly(database.url, 3, SECRETS)
    const { stdout: algorithms } = await execFileAsync('psql', [
      database.url,
      '-Atc',
      "select distinct content->>'algorithm' from event where type = 'm.room.encrypted'",
    ])
    assert.equal(algorithms.trim(), 'm.megolm.v1.aes-sha2')
  })

  step('on a phone, the list and the conversation are separate screens', async () => {
    const bob = pageOf(bobBrowser)
    await bob.setViewportSize({ width: 390, height: 844 })
    await bob.getByRole('link', { name: 'Back to chats' }).click()
    await bob.waitForURL(at('chats'))
    const conversation = bob.getByTestId('conversation').filter({ hasText: GROUP })
    await conversation.waitFor()
    await screenshot(bobBrowser, 'phone-chats.png')
    await conversation.click()
    await bob.getByRole('textbox', { name: 'Message' }).waitFor()
    assert.equal(await bob.getByRole('heading', { level: 1, name: 'Chats' }).isVisible(), false)
    await screenshot(bobBrowser, 'phone-chat.png')

    assertNoPageProblems(bobBrowser)
  })
})
