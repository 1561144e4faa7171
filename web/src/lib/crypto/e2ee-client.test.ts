/**
 * The glue between the OlmMachine and the homeserver, with the real crypto (wasm) and an
 * in-memory fake of the server's key endpoints: two devices exchange an encrypted message,
 * an event whose key has not arrived fails as retryable and decrypts once it has, and room
 * keys rotate on a membership change and after the message limit.
 */
import { describe, expect, it } from 'vitest'

import { ApiError } from '@/lib/api-client'

import {
  E2eeClient,
  ROTATION_MESSAGES,
  type ToDeviceMessage,
  type Transport,
} from '@/lib/crypto/e2ee-client'

type Json = Record<string, unknown>

/** Just enough of the homeserver's key API for two users with one device each. */
class FakeKeyServer {
  readonly deviceKeys = new Map<string, Json>() // user -> {device: keys}
  readonly oneTimeKeys = new Map<string, Json>() // "user|device" -> {key id: key}
  readonly inbox = new Map<string, ToDeviceMessage[]>() // "user|device" -> messages
  readonly crossSigning = new Map<string, Json>() // user -> upload body
  /** The server wants the password for a cross-signing upload. */
  requirePassword = false
  #nextId = 1

  transport(userId: string, deviceId: string): Transport {
    return (_method, path, body) => {
      try {
        return Promise.resolve(this.#handle(userId, deviceId, path, body))
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)))
      }
    }
  }

  #handle(userId: string, deviceId: string, path: string, body: unknown): unknown {
    const b = (body ?? {}) as Json
    if (path === '/keys/upload') {
      if (b.device_keys) {
        this.deviceKeys.set(userId, {
          ...(this.deviceKeys.get(userId) ?? {}),
          [deviceId]: b.device_keys,
        })
      }
      const mine = { ...(this.oneTimeKeys.get(`${userId}|${deviceId}`) ?? {}) }
      Object.assign(mine, (b.one_time_keys ?? {}) as Json)
      this.oneTimeKeys.set(`${userId}|${deviceId}`, mine)
      return { one_time_key_counts: { signed_curve25519: Object.keys(mine).length } }
    }
    if (path === '/keys/query') {
      const wanted = Object.keys(b.device_keys ?? {})
      const signing = (usage: string) =>
        Object.fromEntries(
          wanted.flatMap((u) => {
            const key = this.crossSigning.get(u)?.[usage]
            return key ? [[u, key]] : []
          }),
        )
      return {
        device_keys: Object.fromEntries(wanted.map((u) => [u, this.deviceKeys.get(u) ?? {}])),
        master_keys: signing('master_key'),
        self_signing_keys: signing('self_signing_key'),
        user_signing_keys: signing('user_signing_key'),
        failures: {},
      }
    }
    if (path === '/keys/device_signing/upload') {
      const auth = b.auth as { password?: string } | undefined
      if (this.requirePassword && auth?.password === undefined) {
        throw new ApiError({ status: 401, errcode: 'M_FORBIDDEN', message: 'password' })
      }
      this.crossSigning.set(userId, b)
      return {}
    }
    if (path === '/keys/claim') {
      const claimed: Json = {}
      for (const [user, devices] of Object.entries((b.one_time_keys ?? {}) as Json)) {
        const forUser: Json = {}
        for (const device of Object.keys(devices as Json)) {
          const keys = this.oneTimeKeys.get(`${user}|${device}`) ?? {}
          const first = Object.keys(keys)[0]
          if (first === undefined) continue
          forUser[device] = { [first]: keys[first] }
          // Handed out once.
          this.oneTimeKeys.set(
            `${user}|${device}`,
            Object.fromEntries(Object.entries(keys).filter(([id]) => id !== first)),
          )
        }
        claimed[user] = forUser
      }
      return { one_time_keys: claimed, failures: {} }
    }
    const toDevice = /^\/sendToDevice\/([^/]+)\//.exec(path)
    if (toDevice?.[1] !== undefined) {
      const type = decodeURIComponent(toDevice[1])
      for (const [user, devices] of Object.entries((b.messages ?? {}) as Json)) {
        for (const [device, content] of Object.entries(devices as Json)) {
          const key = `${user}|${device}`
          const list = this.inbox.get(key) ?? []
          list.push({ id: this.#nextId++, type, sender: userId, content: content as Json })
          this.inbox.set(key, list)
        }
      }
      return {}
    }
    return {}
  }

  /** Take the to-device messages waiting for a device. */
  take(userId: string, deviceId: string): ToDeviceMessage[] {
    const key = `${userId}|${deviceId}`
    const list = this.inbox.get(key) ?? []
    this.inbox.set(key, [])
    return list
  }
}

const ROOM = '!room:test'
const ANN = '@ann:test'
const BOB = '@bob:test'

async function twoDevices() {
  const server = new FakeKeyServer()
  const open = (userId: string, deviceId: string) =>
    E2eeClient.open({
      userId,
      deviceId,
      transport: server.transport(userId, deviceId),
      persistent: false,
    })
  const ann = await open(ANN, 'ANNDEVICE')
  const bob = await open(BOB, 'BOBDEVICE')
  await ann.processOutgoing()
  await bob.processOutgoing()
  return { server, ann, bob }
}

function event(id: string, content: Json) {
  return {
    event_id: id,
    room_id: ROOM,
    sender: ANN,
    type: 'm.room.encrypted',
    origin_server_ts: Date.now(),
    content,
  }
}

describe('E2eeClient', () => {
  it('encrypts for the room and decrypts once the key has arrived', async () => {
    const { server, ann, bob } = await twoDevices()
    const content = await ann.encrypt(ROOM, [ANN, BOB], 'parley.message', { body: 'hi Bob' })
    expect(content.algorithm).toBe('m.megolm.v1.aes-sha2')
    expect(JSON.stringify(content)).not.toContain('hi Bob')

    // The event arrives before the to-device message with its key.
    const early = await bob.decrypt(event('$1', content))
    expect(early).toMatchObject({ ok: false, code: 'missing-key', retryable: true })

    const arrived: string[] = []
    bob.roomKeys.on((ids) => arrived.push(...ids))
    const messages = server.take(BOB, 'BOBDEVICE')
    expect(messages.map((m) => m.type)).toContain('m.room.encrypted')
    const upTo = await bob.receiveSync({ toDevice: messages })
    expect(upTo).toBe(messages.at(-1)?.id)
    expect(arrived).toContain(content.session_id)

    const late = await bob.decrypt(event('$1', content))
    expect(late).toMatchObject({
      ok: true,
      type: 'parley.message',
      content: { body: 'hi Bob' },
      senderDevice: 'ANNDEVICE',
    })
    ann.close()
    bob.close()
  }, 60_000)

  it('decrypts what this device sent itself, under an id no server gave it', async () => {
    // How a send still pending on another server is read back after a reload.
    const { ann, bob } = await twoDevices()
    const content = await ann.encrypt(ROOM, [ANN, BOB], 'parley.message', { body: 'queued' })
    const own = await ann.decrypt(event('$pending.m1abc.0b4c-77', content))
    expect(own).toMatchObject({ ok: true, type: 'parley.message', content: { body: 'queued' } })
    ann.close()
    bob.close()
  }, 60_000)

  it('rotates the room key when membership changes and after the message limit', async () => {
    const { ann, bob } = await twoDevices()
    const send = async () =>
      (await ann.encrypt(ROOM, [ANN, BOB], 'parley.message', { body: 'x' })).session_id
    const first = await send()
    expect(await send()).toBe(first)

    await ann.rotateRoomKey(ROOM) // e.g. someone joined or left
    const second = await send()
    expect(second).not.toBe(first)

    // The second session has carried one message; the limit replaces it after the last one.
    for (let i = 1; i < ROTATION_MESSAGES; i += 1) expect(await send()).toBe(second)
    expect(await send()).not.toBe(second)
    ann.close()
    bob.close()
  }, 120_000)

  it('sets up cross-signing once, with the password when the server asks for it', async () => {
    const { server, ann, bob } = await twoDevices()
    server.requirePassword = true
    await expect(ann.bootstrapCrossSigning()).rejects.toMatchObject({ status: 401 })
    expect(server.crossSigning.has(ANN)).toBe(false)

    expect(await ann.bootstrapCrossSigning('hunter2')).toBe('created')
    const upload = server.crossSigning.get(ANN)
    expect(upload?.auth).toEqual({ password: 'hunter2' })
    expect(Object.keys(upload ?? {}).sort()).toEqual([
      'auth',
      'master_key',
      'self_signing_key',
      'user_signing_key',
    ])
    expect(await ann.crossSigningReady()).toBe(true)
    // Not twice.
    expect(await ann.bootstrapCrossSigning('hunter2')).toBe('exists')

    // Ann's second device finds the keys in place and does not replace them.
    const second = await E2eeClient.open({
      userId: ANN,
      deviceId: 'ANNSECOND',
      transport: server.transport(ANN, 'ANNSECOND'),
      persistent: false,
    })
    await second.processOutgoing()
    expect(await second.bootstrapCrossSigning('hunter2')).toBe('exists')
    expect(await second.crossSigningReady()).toBe(false)
    expect(server.crossSigning.get(ANN)).toBe(upload)
    for (const client of [ann, bob, second]) client.close()
  }, 60_000)
})
