/**
 * End-to-end encryption for one signed-in device: an OlmMachine from
 * `@matrix-org/matrix-sdk-crypto-wasm` (vodozemac inside) with its IndexedDB store, and the glue
 * that carries its HTTP requests to the homeserver and feeds it what the server pushes.
 *
 * - The machine decides what to send (key uploads, key queries, one-time-key claims, to-device
 *   messages, signatures); {@link E2eeClient.processOutgoing} sends each request and reports the
 *   answer back. Request processing is serialised: one loop at a time, and a room's key sharing
 *   and encryption happen in one exclusive step, so two sends never race to share keys.
 * - Sync input (to-device messages, device-list changes, key counts) comes from the WebSocket,
 *   or from `GET /sendToDevice/pending` when asked to catch up ({@link E2eeClient.catchUp}).
 *   To-device messages are handed to the machine once each (ids only grow) and acknowledged
 *   afterwards, so the server deletes only what the machine has stored.
 * - Megolm sessions rotate after {@link ROTATION_MESSAGES} messages or {@link ROTATION_MS},
 *   when the room's membership changes ({@link E2eeClient.rotateRoomKey}), and (by the
 *   machine itself) whenever a recipient device went away.
 */
import type * as Wasm from '@matrix-org/matrix-sdk-crypto-wasm'

import { storePassphrase } from '@/lib/crypto/store-passphrase'

type WasmModule = typeof Wasm
type OutgoingRequest =
  | Wasm.KeysUploadRequest
  | Wasm.KeysQueryRequest
  | Wasm.KeysClaimRequest
  | Wasm.ToDeviceRequest
  | Wasm.SignatureUploadRequest
  | Wasm.RoomMessageRequest
  | Wasm.KeysBackupRequest

/** A Megolm session is replaced after this many messages... */
export const ROTATION_MESSAGES = 100
/** ...or after this long, whichever comes first. */
export const ROTATION_MS = 24 * 60 * 60 * 1000

/** Sends one request to the client API (path relative to `/api/v1`) and returns its JSON. */
export type Transport = (
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
) => Promise<unknown>

/** A to-device message as the server delivers it. */
export interface ToDeviceMessage {
  id: number
  type: string
  sender: string
  content: Record<string, unknown>
}

/** What the server said since the last time, all parts optional. */
export interface SyncInput {
  toDevice?: readonly ToDeviceMessage[]
  changed?: readonly string[]
  left?: readonly string[]
  oneTimeKeyCounts?: Record<string, number>
  unusedFallbackKeyTypes?: readonly string[]
}

/** An event as stored by the server; the parts the machine needs to decrypt it. */
export interface EncryptedEventInput {
  event_id: string
  room_id: string
  sender: string
  type: string
  origin_server_ts: number
  content: Record<string, unknown>
}

export type DecryptionFailureCode =
  'missing-key' | 'unknown-index' | 'untrusted-device' | 'mismatched-sender' | 'malformed' | 'other'

export type DecryptOutcome =
  | {
      ok: true
      /** The type and content the sender encrypted. */
      type: string
      content: Record<string, unknown>
      senderDevice: string | undefined
      /** The sender's device is verified (directly or through its owner's cross-signing). */
      verifiedDevice: boolean
    }
  | {
      ok: false
      code: DecryptionFailureCode
      /** Why, in words for the user. */
      reason: string
      /** The Megolm session the event needs; its arrival is worth a retry. */
      sessionId: string | undefined
      /** Whether the key may still arrive (then the event is retried when it does). */
      retryable: boolean
    }

export interface DeviceInfo {
  userId: string
  deviceId: string
  displayName: string | undefined
  ed25519: string | undefined
  verified: boolean
  crossSignedByOwner: boolean
  /** When this device first saw the other device's keys (ms since the epoch). */
  firstSeenMs: number
  isOwnDevice: boolean
}

export interface IdentityInfo {
  userId: string
  /** The user has cross-signing keys. */
  hasIdentity: boolean
  /** We (our user-signing key, or for ourselves our own device) vouch for the identity. */
  verified: boolean
}

type Listener<T> = (value: T) => void

class Emitter<T> {
  readonly #listeners = new Set<Listener<T>>()
  on(listener: Listener<T>): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
  emit(value: T): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(value)
      } catch (error) {
        console.warn('E2EE listener failed', error)
      }
    }
  }
}

let wasmLoading: Promise<WasmModule> | undefined

/** The crypto module, loaded (and its ~8 MB wasm compiled) on first use. */
export function loadCryptoWasm(): Promise<WasmModule> {
  wasmLoading ??= import('@matrix-org/matrix-sdk-crypto-wasm').then(async (wasm) => {
    await wasm.initAsync()
    return wasm
  })
  return wasmLoading
}

/** The IndexedDB store of a device: one per user and device id. */
export function cryptoStoreName(userId: string, deviceId: string): string {
  return `parley-crypto:${userId}:${deviceId}`
}

const enc = encodeURIComponent

/** How long to wait for another tab (or the previous session here) to let go of the store. */
const STORE_LOCK_WAIT_MS = 5000

/** The store is open in another tab of this browser. */
export class StoreInUseError extends Error {
  override readonly name = 'StoreInUseError'
}

/**
 * Hold the Web Lock named after the store until the returned function is called. Waits a few
 * seconds for a holder that is closing (a re-render, a tab being closed), then gives up.
 */
function holdStoreLock(storeName: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(storeName, { signal: AbortSignal.timeout(STORE_LOCK_WAIT_MS) }, () => {
        // Held until `release` resolves this promise.
        return new Promise<void>((release) => {
          resolve(() => {
            release()
          })
        })
      })
      .catch((error: unknown) => {
        reject(
          error instanceof DOMException && error.name === 'TimeoutError'
            ? new StoreInUseError(
                'Encryption is in use in another tab of this browser: close it, then reload this one.',
              )
            : error instanceof Error
              ? error
              : new Error(String(error)),
        )
      })
  })
}

function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

export class E2eeClient {
  readonly userId: string
  readonly deviceId: string
  readonly #w: WasmModule
  readonly #machine: Wasm.OlmMachine
  readonly #transport: Transport
  #chain: Promise<unknown> = Promise.resolve()
  #closed = false
  /** The highest to-device id handed to the machine. */
  #lastToDeviceId = 0
  #catchingUp: Promise<void> | undefined
  #release: () => void = () => undefined

  /** Megolm sessions that arrived (by session id), for retrying undecryptable events. */
  readonly roomKeys = new Emitter<ReadonlySet<string>>()
  /** Users whose devices changed (new, removed, or their trust). */
  readonly devices = new Emitter<readonly string[]>()
  /** Trust changed: a verification finished, cross-signing was set up. */
  readonly trustChanged = new Emitter<undefined>()
  /** A verification request arrived or changed. */
  readonly verificationRequests = new Emitter<Wasm.VerificationRequest>()

  private constructor(wasm: WasmModule, machine: Wasm.OlmMachine, transport: Transport) {
    this.#w = wasm
    this.#machine = machine
    this.#transport = transport
    this.userId = machine.userId.toString()
    this.deviceId = machine.deviceId.toString()
    machine.roomKeyRequestsEnabled = false
    machine.roomKeyForwardingEnabled = false
    machine.registerRoomKeyUpdatedCallback((infos) => {
      this.roomKeys.emit(new Set(infos.map((info) => info.sessionId)))
      return Promise.resolve()
    })
    machine.registerDevicesUpdatedCallback((userIds) => {
      this.devices.emit(userIds)
      return Promise.resolve()
    })
    machine.registerUserIdentityUpdatedCallback((userId) => {
      this.devices.emit([userId.toString()])
      return Promise.resolve()
    })
  }

  /**
   * Open (or create) the device's crypto store and machine. `persistent: false` keeps
   * everything in memory (tests).
   */
  static async open(options: {
    userId: string
    deviceId: string
    transport: Transport
    persistent?: boolean
  }): Promise<E2eeClient> {
    const wasm = await loadCryptoWasm()
    let machine: Wasm.OlmMachine
    let release: () => void = () => undefined
    if (options.persistent === false) {
      machine = await wasm.OlmMachine.initialize(
        new wasm.UserId(options.userId),
        new wasm.DeviceId(options.deviceId),
      )
    } else {
      const storeName = cryptoStoreName(options.userId, options.deviceId)
      // One machine per store: two would both consume the same to-device messages and
      // advance the same Olm sessions differently.
      release = await holdStoreLock(storeName)
      try {
        // Two tabs making the first passphrase at once: the loser reads the winner's.
        const passphrase = await storePassphrase(storeName).catch(() => storePassphrase(storeName))
        machine = await wasm.OlmMachine.initialize(
          new wasm.UserId(options.userId),
          new wasm.DeviceId(options.deviceId),
          storeName,
          passphrase,
        )
      } catch (error) {
        release()
        throw error
      }
    }
    const client = new E2eeClient(wasm, machine, options.transport)
    client.#release = release
    return client
  }

  get closed(): boolean {
    return this.#closed
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    // Let queued work finish against the open store before closing it.
    void this.#chain.finally(() => {
      this.#machine.close()
      this.#release()
    })
  }

  /** This device's ed25519 key, in the form people compare. */
  get fingerprint(): string {
    return this.#machine.identityKeys.ed25519.toBase64()
  }

  /** Run `task` alone: no other request processing, sharing or verification step meanwhile. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(() => {
      if (this.#closed) throw new Error('The encryption store is closed.')
      return task()
    })
    this.#chain = run.catch(() => undefined)
    return run
  }

  /** Send everything the machine wants sent, until it wants nothing more. */
  processOutgoing(): Promise<void> {
    return this.#exclusive(() => this.#drain())
  }

  async #drain(): Promise<void> {
    for (let round = 0; round < 20; round += 1) {
      const requests = (await this.#machine.outgoingRequests()) as OutgoingRequest[]
      if (requests.length === 0) return
      for (const request of requests) await this.#send(request)
    }
  }

  async #send(request: OutgoingRequest): Promise<void> {
    const w = this.#w
    let response: unknown
    const body: unknown = JSON.parse(request.body)
    if (request instanceof w.KeysUploadRequest) {
      response = await this.#transport('POST', '/keys/upload', body)
    } else if (request instanceof w.KeysQueryRequest) {
      response = await this.#transport('POST', '/keys/query', body)
    } else if (request instanceof w.KeysClaimRequest) {
      response = await this.#transport('POST', '/keys/claim', body)
    } else if (request instanceof w.ToDeviceRequest) {
      response = await this.#transport(
        'PUT',
        `/sendToDevice/${enc(request.event_type)}/${enc(request.txn_id)}`,
        body,
      )
    } else if (request instanceof w.SignatureUploadRequest) {
      response = await this.#transport('POST', '/keys/signatures/upload', body)
    } else if (request instanceof w.RoomMessageRequest) {
      response = await this.#transport(
        'PUT',
        `/rooms/${enc(request.room_id)}/send/${enc(request.event_type)}/${enc(request.txn_id)}`,
        body,
      )
    } else {
      // Key backup: this server has none, and the client never enables it.
      return
    }
    if (request.id !== undefined) {
      await this.#machine.markRequestAsSent(
        request.id,
        request.type,
        JSON.stringify(response ?? {}),
      )
    }
  }

  /**
   * Hand the machine what the server said. Returns the highest to-device id now stored by the
   * machine (to acknowledge), if there were any.
   */
  receiveSync(input: SyncInput): Promise<number | undefined> {
    return this.#exclusive(async () => {
      const w = this.#w
      const fresh = (input.toDevice ?? []).filter((m) => m.id > this.#lastToDeviceId)
      const counts = new Map<string, number>(Object.entries(input.oneTimeKeyCounts ?? {}))
      const fallback =
        input.unusedFallbackKeyTypes === undefined
          ? undefined
          : new Set(input.unusedFallbackKeyTypes)
      const processed = await this.#machine.receiveSyncChanges(
        JSON.stringify(fresh.map((m) => ({ type: m.type, sender: m.sender, content: m.content }))),
        new w.DeviceLists(
          (input.changed ?? []).map((u) => new w.UserId(u)),
          (input.left ?? []).map((u) => new w.UserId(u)),
        ),
        counts,
        fallback,
      )
      const last = input.toDevice?.at(-1)?.id
      if (last !== undefined && last > this.#lastToDeviceId) this.#lastToDeviceId = last

      // Verification requests: the machine keeps them; tell the UI.
      const requesters = new Set<string>()
      for (const m of fresh) {
        if (m.type.startsWith('m.key.verification.')) requesters.add(m.sender)
      }
      for (const event of processed) {
        if (event.type === w.ProcessedToDeviceEventType.Decrypted) {
          const raw = asObject(JSON.parse(event.rawEvent))
          if (typeof raw.type === 'string' && raw.type.startsWith('m.key.verification.')) {
            if (typeof raw.sender === 'string') requesters.add(raw.sender)
          }
        }
      }
      await this.#drain()
      for (const sender of requesters) {
        for (const request of this.#machine.getVerificationRequests(new w.UserId(sender))) {
          this.verificationRequests.emit(request)
        }
      }
      return last
    })
  }

  /**
   * Fetch the to-device messages waiting on the server and the key counts over REST, hand
   * them to the machine and acknowledge them. Single-flight. For when the WebSocket does not
   * bring them (an older server), and whenever a message turns out undecryptable.
   */
  catchUp(): Promise<void> {
    this.#catchingUp ??= this.#catchUpOnce().finally(() => {
      this.#catchingUp = undefined
    })
    return this.#catchingUp
  }

  async #catchUpOnce(): Promise<void> {
    const counts = asObject(await this.#transport('GET', '/keys/counts'))
    for (let page = 0; page < 50; page += 1) {
      const pending = asObject(await this.#transport('GET', '/sendToDevice/pending?limit=100'))
      const events = (Array.isArray(pending.events) ? pending.events : []) as ToDeviceMessage[]
      const first = page === 0
      const acked = await this.receiveSync({
        toDevice: events,
        ...(first
          ? {
              oneTimeKeyCounts: asObject(counts.one_time_key_counts) as Record<string, number>,
              unusedFallbackKeyTypes: (Array.isArray(counts.unused_fallback_key_types)
                ? counts.unused_fallback_key_types
                : []) as string[],
            }
          : {}),
      })
      if (acked === undefined) return
      await this.#transport('POST', '/sendToDevice/ack', { up_to_id: acked })
      if (events.length < 100) return
    }
  }

  /** Ask the server again for every tracked user's devices (after being away). */
  async refreshDeviceLists(): Promise<void> {
    await this.#machine.markAllTrackedUsersAsDirty()
    await this.processOutgoing()
  }

  /**
   * Encrypt `content` (of type `type`) for everyone in `members`, sharing the room key with
   * their devices first where needed. Returns the content of an `m.room.encrypted` event.
   */
  encrypt(
    roomId: string,
    members: readonly string[],
    type: string,
    content: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    return this.#exclusive(async () => {
      const w = this.#w
      const users = () => members.map((u) => new w.UserId(u))
      await this.#machine.updateTrackedUsers(users())
      await this.#drain() // key queries for users seen for the first time
      const claim = await this.#machine.getMissingSessions(users())
      if (claim) await this.#send(claim)
      const settings = new w.EncryptionSettings()
      settings.rotationPeriodMessages = BigInt(ROTATION_MESSAGES)
      settings.rotationPeriod = BigInt(ROTATION_MS) * 1000n // microseconds
      settings.historyVisibility = w.HistoryVisibility.Joined
      const shares = await this.#machine.shareRoomKey(new w.RoomId(roomId), users(), settings)
      for (const share of shares) await this.#send(share)
      const encrypted = await this.#machine.encryptRoomEvent(
        new w.RoomId(roomId),
        type,
        JSON.stringify(content),
      )
      return asObject(JSON.parse(encrypted))
    })
  }

  /** Start a new Megolm session for the room's next message (membership changed). */
  rotateRoomKey(roomId: string): Promise<boolean> {
    return this.#exclusive(() => this.#machine.invalidateGroupSession(new this.#w.RoomId(roomId)))
  }

  async decrypt(event: EncryptedEventInput): Promise<DecryptOutcome> {
    const w = this.#w
    const sessionId =
      typeof event.content.session_id === 'string' ? event.content.session_id : undefined
    if (this.#closed) {
      return { ok: false, code: 'other', reason: 'Signed out.', sessionId, retryable: false }
    }
    try {
      const decrypted = await this.#machine.decryptRoomEvent(
        JSON.stringify({
          type: event.type,
          sender: event.sender,
          event_id: event.event_id,
          origin_server_ts: event.origin_server_ts,
          room_id: event.room_id,
          content: event.content,
        }),
        new w.RoomId(event.room_id),
        new w.DecryptionSettings(w.TrustRequirement.Untrusted),
      )
      const plain = asObject(JSON.parse(decrypted.event))
      const senderDevice = decrypted.senderDevice?.toString()
      let verifiedDevice = false
      if (senderDevice !== undefined) {
        const device = await this.#machine.getDevice(
          new w.UserId(event.sender),
          new w.DeviceId(senderDevice),
        )
        verifiedDevice = device?.isVerified() ?? false
      }
      return {
        ok: true,
        type: typeof plain.type === 'string' ? plain.type : '',
        content: asObject(plain.content),
        senderDevice,
        verifiedDevice,
      }
    } catch (error) {
      if (error instanceof w.MegolmDecryptionError) {
        return describeFailure(w, error.code, sessionId)
      }
      return {
        ok: false,
        code: 'malformed',
        reason: 'The message is damaged or not in a format this app understands.',
        sessionId,
        retryable: false,
      }
    }
  }

  // ---- devices, identities and cross-signing -------------------------------------------

  /** Start tracking these users' devices (and fetch them now if they are new). */
  async trackUsers(userIds: readonly string[]): Promise<void> {
    await this.#machine.updateTrackedUsers(userIds.map((u) => new this.#w.UserId(u)))
    await this.processOutgoing()
  }

  async userDevices(userId: string): Promise<DeviceInfo[]> {
    const w = this.#w
    const devices = await this.#machine.getUserDevices(new w.UserId(userId))
    return devices
      .devices()
      .filter((d) => !d.isDeleted())
      .map((d) => ({
        userId,
        deviceId: d.deviceId.toString(),
        displayName: d.displayName,
        ed25519: d.ed25519Key?.toBase64(),
        verified: d.isVerified(),
        crossSignedByOwner: d.isCrossSignedByOwner(),
        firstSeenMs: Number(d.firstTimeSeen()),
        isOwnDevice: userId === this.userId && d.deviceId.toString() === this.deviceId,
      }))
  }

  async identity(userId: string): Promise<IdentityInfo> {
    const identity = await this.#machine.getIdentity(new this.#w.UserId(userId))
    if (!identity) return { userId, hasIdentity: false, verified: false }
    if (identity instanceof this.#w.OwnUserIdentity) {
      return { userId, hasIdentity: true, verified: await identity.trustsOurOwnDevice() }
    }
    return { userId, hasIdentity: true, verified: identity.isVerified() }
  }

  /**
   * Ask this user's other (verified) devices for the secrets this one lacks, such as the
   * cross-signing keys after it was verified by a device that has them.
   */
  requestMissingSecrets(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#machine.requestMissingSecretsIfNeeded()
      await this.#drain()
    })
  }

  async crossSigningReady(): Promise<boolean> {
    const status = await this.#machine.crossSigningStatus()
    return status.hasMaster && status.hasSelfSigning && status.hasUserSigning
  }

  /**
   * Make this user's cross-signing keys (master, self-signing, user-signing) and upload them,
   * signing this device with them, if the server has none for the user yet. A later device
   * does not make its own: it gets vouched for by verifying it with an earlier one.
   * `password` is needed when the server asks for it (the session is older than a few
   * minutes): without it, the server's 401 `M_FORBIDDEN` is thrown.
   * Returns 'created', or 'exists' when the user already had cross-signing keys.
   */
  bootstrapCrossSigning(password?: string): Promise<'created' | 'exists'> {
    return this.#exclusive(async () => {
      const w = this.#w
      // Ask the server, not the store: keys made here whose upload failed do not count.
      const query = this.#machine.queryKeysForUsers([new w.UserId(this.userId)])
      const answer = asObject(await this.#transport('POST', '/keys/query', JSON.parse(query.body)))
      await this.#machine.markRequestAsSent(query.id, query.type, JSON.stringify(answer))
      if (this.userId in asObject(answer.master_keys)) return 'exists'

      const requests = await this.#machine.bootstrapCrossSigning(true)
      const upload = requests.uploadKeysRequest as OutgoingRequest | undefined
      if (upload) await this.#send(upload)
      const signingKeys = asObject(JSON.parse(requests.uploadSigningKeysRequest.body))
      await this.#transport('POST', '/keys/device_signing/upload', {
        ...signingKeys,
        ...(password === undefined ? {} : { auth: { password } }),
      })
      await this.#send(requests.uploadSignaturesRequest)
      await this.#drain()
      this.trustChanged.emit(undefined)
      return 'created'
    })
  }

  // ---- verification ----------------------------------------------------------------------

  /** Ask one device (another user's, or another of ours) to verify with emoji. */
  requestVerification(userId: string, deviceId: string): Promise<Wasm.VerificationRequest> {
    return this.#exclusive(async () => {
      const w = this.#w
      const device = await this.#machine.getDevice(new w.UserId(userId), new w.DeviceId(deviceId))
      if (!device) throw new Error(`Unknown device ${deviceId} of ${userId}`)
      const [request, outgoing] = device.requestVerification([w.VerificationMethod.SasV1])
      await this.#send(outgoing)
      return request
    })
  }

  /**
   * Run a verification step (accept, start, confirm, cancel...) and send the request(s) it
   * returns, then anything else the machine queued (e.g. signatures after a verification).
   */
  sendVerification(step: () => unknown): Promise<void> {
    return this.#exclusive(async () => {
      const result: unknown = await step()
      const list: unknown[] = result === undefined ? [] : Array.isArray(result) ? result : [result]
      for (const request of list) {
        if (this.#isOutgoing(request)) await this.#send(request)
      }
      await this.#drain()
    })
  }

  #isOutgoing(value: unknown): value is OutgoingRequest {
    const w = this.#w
    return (
      value instanceof w.ToDeviceRequest ||
      value instanceof w.RoomMessageRequest ||
      value instanceof w.SignatureUploadRequest ||
      value instanceof w.KeysQueryRequest ||
      value instanceof w.KeysUploadRequest ||
      value instanceof w.KeysClaimRequest
    )
  }

  /** The crypto module's classes, for the verification UI's `instanceof` checks. */
  get wasm(): WasmModule {
    return this.#w
  }
}

function describeFailure(
  w: WasmModule,
  code: Wasm.DecryptionErrorCode,
  sessionId: string | undefined,
): DecryptOutcome & { ok: false } {
  switch (code) {
    case w.DecryptionErrorCode.MissingRoomKey:
      return {
        ok: false,
        code: 'missing-key',
        reason: 'The key for this message has not arrived yet.',
        sessionId,
        retryable: true,
      }
    case w.DecryptionErrorCode.UnknownMessageIndex:
      return {
        ok: false,
        code: 'unknown-index',
        // Nobody sends older keys to this device (no key backup or forwarding yet).
        reason:
          'This device only has the keys for later messages: it was sent before this device could read the conversation.',
        sessionId,
        retryable: false,
      }
    case w.DecryptionErrorCode.MismatchedSender:
    case w.DecryptionErrorCode.MismatchedIdentityKeys:
      return {
        ok: false,
        code: 'mismatched-sender',
        reason: 'The message claims a sender whose keys do not match.',
        sessionId,
        retryable: false,
      }
    case w.DecryptionErrorCode.UnknownSenderDevice:
    case w.DecryptionErrorCode.UnsignedSenderDevice:
    case w.DecryptionErrorCode.SenderIdentityVerificationViolation:
      return {
        ok: false,
        code: 'untrusted-device',
        reason: 'The sending device is not trusted.',
        sessionId,
        retryable: false,
      }
    default:
      return {
        ok: false,
        code: 'other',
        reason: 'The message could not be decrypted.',
        sessionId,
        retryable: false,
      }
  }
}
