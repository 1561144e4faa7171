/**
 * The plaintext of encrypted messages, decrypted once each and kept in memory (never written
 * anywhere), for the screens to read.
 *
 * An event that cannot be decrypted yet (its room key has not arrived) is remembered under the
 * Megolm session it needs, and decrypted again as soon as that session arrives, or when
 * {@link DecryptionStore.retryAll} is called (a new connection). Screens show it meanwhile as
 * undecryptable, with the reason, never as an empty bubble.
 */
import type { RoomEvent } from '@/features/chat/api/rooms'
import {
  decodeMessage,
  ENCRYPTED_EVENT_TYPE,
  MESSAGE_EVENT_TYPE,
} from '@/features/chat/model/message-content'
import type { DecryptOutcome } from '@/lib/crypto/e2ee-client'

export type MessageView =
  /** Being decrypted (or the encryption store is still opening). */
  | { kind: 'decrypting' }
  | {
      kind: 'text'
      text: string
      /** False for messages sent before end-to-end encryption. */
      encrypted: boolean
      /** The sending device is verified. */
      verifiedDevice: boolean
    }
  | { kind: 'undecryptable'; reason: string; waiting: boolean }

export type Decrypt = (event: RoomEvent) => Promise<DecryptOutcome>

export class DecryptionStore {
  readonly #results = new Map<string, DecryptOutcome>()
  readonly #inFlight = new Set<string>()
  /** Events to decrypt once the crypto is ready. */
  readonly #queued = new Map<string, RoomEvent>()
  /** Undecryptable events that may still become readable, by the session they need. */
  readonly #waiting = new Map<string, RoomEvent>()
  readonly #listeners = new Set<() => void>()
  /** Sessions that arrived, for a decryption that failed while its key was arriving. */
  readonly #arrived = new Map<string, number>()
  #arrivals = 0
  #decrypt: Decrypt | undefined
  #version = 0
  /** Called when an event's key is missing (to fetch waiting to-device messages). */
  readonly #onMissingKey: () => void

  constructor(onMissingKey: () => void = () => undefined) {
    this.#onMissingKey = onMissingKey
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Changes whenever any result does (for `useSyncExternalStore`). */
  readonly getVersion = (): number => this.#version

  /** The crypto is ready: decrypt what was asked for meanwhile. */
  setDecrypt(decrypt: Decrypt | undefined): void {
    this.#decrypt = decrypt
    if (!decrypt) return
    const queued = [...this.#queued.values()]
    this.#queued.clear()
    for (const event of queued) this.#start(event)
  }

  /** Decrypt these events (those not already done or under way). */
  request(events: Iterable<RoomEvent>): void {
    for (const event of events) {
      if (event.type !== ENCRYPTED_EVENT_TYPE) continue
      if (this.#results.has(event.event_id) || this.#inFlight.has(event.event_id)) continue
      this.#start(event)
    }
  }

  /** What to show for a message event (synchronously; `request` it first). */
  view(event: RoomEvent): MessageView {
    if (event.type === MESSAGE_EVENT_TYPE) {
      const text = decodeMessage(event.content)
      return text === undefined
        ? { kind: 'undecryptable', reason: 'The message has no text.', waiting: false }
        : { kind: 'text', text, encrypted: false, verifiedDevice: false }
    }
    const result = this.#results.get(event.event_id)
    if (!result) return { kind: 'decrypting' }
    if (!result.ok) {
      return {
        kind: 'undecryptable',
        reason: result.reason,
        waiting: result.retryable && this.#waiting.has(event.event_id),
      }
    }
    const text = result.type === MESSAGE_EVENT_TYPE ? decodeMessage(result.content) : undefined
    if (text === undefined) {
      return {
        kind: 'undecryptable',
        reason: `Decrypted, but not a message this app can show (${result.type}).`,
        waiting: false,
      }
    }
    return { kind: 'text', text, encrypted: true, verifiedDevice: result.verifiedDevice }
  }

  /** Room keys arrived: decrypt again the events that were waiting for them. */
  retrySessions(sessionIds: ReadonlySet<string>): void {
    this.#arrivals += 1
    for (const id of sessionIds) this.#arrived.set(id, this.#arrivals)
    for (const [eventId, event] of this.#waiting) {
      const sessionId = event.content.session_id
      if (typeof sessionId === 'string' && sessionIds.has(sessionId)) {
        this.#waiting.delete(eventId)
        this.#start(event)
      }
    }
  }

  /** Decrypt again every event that was waiting for its key. */
  retryAll(): void {
    const waiting = [...this.#waiting.values()]
    this.#waiting.clear()
    for (const event of waiting) this.#start(event)
  }

  clear(): void {
    this.#results.clear()
    this.#waiting.clear()
    this.#queued.clear()
    this.#changed()
  }

  #start(event: RoomEvent): void {
    const decrypt = this.#decrypt
    if (!decrypt) {
      this.#queued.set(event.event_id, event)
      return
    }
    this.#inFlight.add(event.event_id)
    const startedAt = this.#arrivals
    decrypt(event)
      .then((outcome) => {
        this.#results.set(event.event_id, outcome)
        if (!outcome.ok && outcome.retryable) {
          this.#waiting.set(event.event_id, event)
          const arrived =
            outcome.sessionId === undefined ? undefined : this.#arrived.get(outcome.sessionId)
          if (outcome.sessionId !== undefined && arrived !== undefined && arrived > startedAt) {
            // The key came while this attempt was under way.
            this.retrySessions(new Set([outcome.sessionId]))
          } else {
            this.#onMissingKey()
          }
        }
      })
      .catch((error: unknown) => {
        this.#results.set(event.event_id, {
          ok: false,
          code: 'other',
          reason: error instanceof Error ? error.message : 'The message could not be decrypted.',
          sessionId: undefined,
          retryable: false,
        })
      })
      .finally(() => {
        this.#inFlight.delete(event.event_id)
        this.#changed()
      })
  }

  #changed(): void {
    this.#version += 1
    for (const listener of [...this.#listeners]) listener()
  }
}
