// Interoperability of the two crypto stacks through one real homeserver: the browser's
// OlmMachine (`@matrix-org/matrix-sdk-crypto-wasm`, here in Node with an in-memory store) and a
// Rust client on `matrix-sdk-crypto` (`parley-e2ee-peer`, driven over stdin/stdout). Each
// encrypts a message the other must decrypt.
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_PEER_BIN=../target/debug/parley-e2ee-peer \
//   E2E_DATABASE_URL=postgres://... npm run e2e

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'

import * as wasm from '@matrix-org/matrix-sdk-crypto-wasm'

import {
  createSiblingDatabase,
  requireInputs,
  SERVER_NAME,
  signInWithApi,
  startHomeserver,
  withDeadline,
  signUpAndConfirm as signUpAndConfirmAt,
} from './support.mjs'

const PASSWORD = 'correct horse battery staple 42'

/** JSON text as a value of unknown shape (callers say what they expect). */
const parse = (/** @type {string} */ text) => /** @type {unknown} */ (JSON.parse(text))
const WAIT_MS = 30_000

/** @type {{ url: string, drop: () => Promise<void> } | undefined} */ let database
/** @type {import('./support.mjs').Homeserver | undefined} */ let server
/**
 * @type {import('node:child_process').ChildProcessByStdio<import('node:stream').Writable,
 *   import('node:stream').Readable, null> | undefined}
 */
let peer

const baseUrl = () => {
  assert.ok(server, 'the server did not start')
  return server.baseUrl
}

/** @param {string} username */
async function signUpAndConfirm(username) {
  assert.ok(server, 'the server did not start')
  const user = { username, email: `${username}@example.org`, fullName: username }
  await signUpAndConfirmAt(server, user, PASSWORD)
}

/**
 * A signed-in session and a caller of the API with its token.
 * @param {string} username
 */
async function signIn(username) {
  assert.ok(server, 'the server did not start')
  return signInWithApi(server, username, PASSWORD)
}

/** @typedef {(method: string, path: string, body?: unknown) => Promise<unknown>} Call */
/**
 * @typedef {wasm.KeysUploadRequest | wasm.KeysQueryRequest | wasm.KeysClaimRequest
 *   | wasm.ToDeviceRequest | wasm.SignatureUploadRequest | wasm.RoomMessageRequest
 *   | wasm.KeysBackupRequest} OutgoingRequest
 */
/** @typedef {{ event_id: string, type: string, content: Record<string, unknown> }} StoredEvent */

/**
 * Sends what the machine asks for until it asks for nothing.
 * @param {wasm.OlmMachine} machine
 * @param {Call} call
 */
async function pump(machine, call) {
  for (let round = 0; round < 20; round += 1) {
    const requests = /** @type {OutgoingRequest[]} */ (await machine.outgoingRequests())
    if (requests.length === 0) return
    for (const request of requests) await send(machine, call, request)
  }
  assert.fail('the machine keeps asking for requests')
}

/**
 * @param {wasm.OlmMachine} machine
 * @param {Call} call
 * @param {OutgoingRequest} request
 */
async function send(machine, call, request) {
  const body = /** @type {unknown} */ (JSON.parse(request.body))
  const enc = encodeURIComponent
  /** @type {unknown} */ let response
  if (request instanceof wasm.KeysUploadRequest) response = await call('POST', '/keys/upload', body)
  else if (request instanceof wasm.KeysQueryRequest)
    response = await call('POST', '/keys/query', body)
  else if (request instanceof wasm.KeysClaimRequest)
    response = await call('POST', '/keys/claim', body)
  else if (request instanceof wasm.ToDeviceRequest)
    response = await call(
      'PUT',
      `/sendToDevice/${enc(request.event_type)}/${enc(request.txn_id)}`,
      body,
    )
  else if (request instanceof wasm.SignatureUploadRequest)
    response = await call('POST', '/keys/signatures/upload', body)
  else assert.fail('the machine asked for a request this test does not expect')
  if (request.id !== undefined) {
    await machine.markRequestAsSent(request.id, request.type, JSON.stringify(response ?? {}))
  }
}

/**
 * Hands the machine what waits for the device (to-device messages, key counts) and
 * acknowledges it.
 * @param {wasm.OlmMachine} machine
 * @param {Call} call
 */
async function syncOnce(machine, call) {
  const counts = /** @type {{ one_time_key_counts: Record<string, number>,
    unused_fallback_key_types: string[] }} */ (await call('GET', '/keys/counts'))
  const pending = /** @type {{ events: { id: number, type: string, sender: string,
    content: unknown }[] }} */ (await call('GET', '/sendToDevice/pending?limit=100'))
  const events = pending.events
  await machine.receiveSyncChanges(
    JSON.stringify(events.map((e) => ({ type: e.type, sender: e.sender, content: e.content }))),
    new wasm.DeviceLists([], []),
    new Map(Object.entries(counts.one_time_key_counts)),
    new Set(counts.unused_fallback_key_types),
  )
  const last = events.at(-1)
  if (last) await call('POST', '/sendToDevice/ack', { up_to_id: last.id })
  await pump(machine, call)
}

/**
 * The Rust peer's answers, a line each, parsed.
 * @returns {() => Promise<Record<string, unknown>>}
 */
function peerLines() {
  assert.ok(peer)
  const lines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]()
  return async () => {
    const next = await withDeadline(lines.next(), WAIT_MS, 'an answer from the Rust peer')
    assert.ok(!next.done, 'the Rust peer ended')
    return /** @type {Record<string, unknown>} */ (parse(/** @type {string} */ (next.value)))
  }
}

describe('wasm and Rust clients decrypt each other', { timeout: 180_000 }, () => {
  /** @type {string} */ let peerBin = ''

  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    peerBin = process.env.E2E_PEER_BIN ?? ''
    assert.ok(peerBin, 'E2E_PEER_BIN must be set to the path of `parley-e2ee-peer`')
    await access(peerBin)
    database = await createSiblingDatabase(databaseUrl, 'interop')
    server = await startHomeserver({ parleyBin, databaseUrl: database.url })
    await wasm.initAsync()
  })

  after(async () => {
    peer?.kill()
    await server?.stop()
    await database?.drop()
  })

  test('a message each way through one homeserver', async () => {
    await signUpAndConfirm('ann')
    await signUpAndConfirm('bob')
    const ann = await signIn('ann')
    const machine = await wasm.OlmMachine.initialize(
      new wasm.UserId(ann.user_id),
      new wasm.DeviceId(ann.device_id),
    )
    await pump(machine, ann.call)

    const child = spawn(peerBin, [baseUrl(), 'bob', PASSWORD], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    peer = child
    const answer = peerLines()
    const ready = await answer()
    assert.equal(ready.ready, true, JSON.stringify(ready))
    const bob = /** @type {string} */ (ready.user_id)
    assert.equal(bob, `@bob:${SERVER_NAME}`)

    const created = /** @type {{ room_id: string }} */ (
      await ann.call('POST', '/rooms', { kind: 'direct', with: bob })
    )
    const room = created.room_id
    const members = () => [new wasm.UserId(ann.user_id), new wasm.UserId(bob)]

    // wasm → Rust.
    await machine.updateTrackedUsers(members())
    await pump(machine, ann.call)
    const claim = await machine.getMissingSessions(members())
    if (claim) await send(machine, ann.call, claim)
    const shares = await machine.shareRoomKey(
      new wasm.RoomId(room),
      members(),
      new wasm.EncryptionSettings(),
    )
    for (const share of shares) await send(machine, ann.call, share)
    const encrypted = await machine.encryptRoomEvent(
      new wasm.RoomId(room),
      'parley.message',
      JSON.stringify({ body: 'hello from wasm' }),
    )
    const content = /** @type {{ algorithm: string }} */ (parse(encrypted))
    assert.equal(content.algorithm, 'm.megolm.v1.aes-sha2')
    const sent = /** @type {{ event_id: string }} */ (
      await ann.call(
        'PUT',
        `/rooms/${encodeURIComponent(room)}/send/m.room.encrypted/${String(Date.now())}`,
        content,
      )
    )
    child.stdin.write(`${JSON.stringify({ cmd: 'wait', event_id: sent.event_id })}\n`)
    assert.deepEqual(await answer(), { text: 'hello from wasm' })

    // Rust → wasm.
    child.stdin.write(
      `${JSON.stringify({ cmd: 'send', room_id: room, text: 'hello from rust' })}\n`,
    )
    const reply = await answer()
    const replyId = reply.sent
    assert.ok(typeof replyId === 'string', JSON.stringify(reply))
    const started = Date.now()
    /** @type {string | undefined} */ let text
    for (let pause = 20; text === undefined; pause = Math.min(pause * 2, 500)) {
      assert.ok(Date.now() - started < WAIT_MS, 'the Rust message did not decrypt in time')
      await syncOnce(machine, ann.call)
      const history = /** @type {{ events: StoredEvent[] }} */ (
        await ann.call('GET', `/rooms/${encodeURIComponent(room)}/events?limit=50`)
      )
      /** @type {StoredEvent | undefined} */
      const event = history.events.find((e) => e.event_id === replyId)
      if (event) {
        assert.equal(event.type, 'm.room.encrypted')
        try {
          const decrypted = await machine.decryptRoomEvent(
            JSON.stringify(event),
            new wasm.RoomId(room),
            new wasm.DecryptionSettings(wasm.TrustRequirement.Untrusted),
          )
          const plain = /** @type {{ content: { body?: string } }} */ (parse(decrypted.event))
          text = plain.content.body
        } catch {
          // The room key is still on its way as a to-device message.
        }
      }
      if (text === undefined) await new Promise((resolve) => setTimeout(resolve, pause))
    }
    assert.equal(text, 'hello from rust')
    machine.close()
  })
})
