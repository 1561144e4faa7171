import { describeApiFailure } from '@/lib/describe-api-failure'

import type { PendingSend, PendingSnapshot, SendOutcome } from '@/features/chat/api/rooms'
import {
  decodeMessage,
  ENCRYPTED_EVENT_TYPE,
  MESSAGE_EVENT_TYPE,
} from '@/features/chat/model/message-content'
import {
  newTxnId,
  outboxReducer,
  type OutboxAction,
  type OutgoingMessage,
} from '@/features/chat/model/outbox'
import type { DecryptOutcome, EncryptedEventInput } from '@/lib/crypto/e2ee-client'

/**
 * Sends one message; resolves to what the server stored it as, or to `pending` when our server
 * queued it for the room's server.
 */
export type Transmit = (message: OutgoingMessage) => Promise<SendOutcome>

/** How to read this device's own pending sends listed by the server (after a reload). */
export interface RestoreOptions {
  /** The signed-in user: the sender of the pending sends. */
  userId: string
  /** Decrypt an event of a room with this device's keys. */
  decrypt: (event: EncryptedEventInput) => Promise<DecryptOutcome>
}

/** Shown instead of the text of a restored pending message that could not be decrypted. */
export const UNREADABLE_PENDING_TEXT =
  'Can’t show this pending message: this device could not decrypt it.'

/** A pending send as an event of the room sent by this user, for the decryption API. */
export function pendingAsEvent(
  roomId: string,
  userId: string,
  pending: PendingSend,
): EncryptedEventInput {
  return {
    // Not stored anywhere: the event has no id until the room's server takes it.
    event_id: `$pending.${pending.txn_id}`,
    room_id: roomId,
    sender: userId,
    type: pending.type,
    origin_server_ts: pending.queued_at,
    content: pending.content,
  }
}

/** The optimistic messages of every room, and their sending. */
export class OutboxStore {
  #messages: OutgoingMessage[] = []
  readonly #listeners = new Set<() => void>()
  readonly #transmit: Transmit
  readonly #restore: RestoreOptions | undefined
  /** Every transaction this outbox has held (also after it left): never restored again. */
  readonly #known = new Set<string>()
  /**
   * `sent` and `error` frames for transactions this outbox did not hold (yet): a history load
   * can list a send as pending just before its frame comes.
   */
  readonly #settledUnknown = new Map<string, { error?: string }>()

  constructor(transmit: Transmit, restore?: RestoreOptions) {
    this.#transmit = transmit
    this.#restore = restore
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getSnapshot = (): readonly OutgoingMessage[] => this.#messages

  send(roomId: string, text: string): string {
    const txnId = newTxnId()
    this.#known.add(txnId)
    this.dispatch({ type: 'queued', message: { txnId, roomId, text, createdAt: Date.now() } })
    void this.#attempt(txnId)
    return txnId
  }

  /** Send a failed message again, with the same transaction id. */
  retry(txnId: string): void {
    this.dispatch({ type: 'retry', txnId })
    void this.#attempt(txnId)
  }

  /**
   * Take in the sends the server lists as pending in a room (from a load of its newest page):
   * those this outbox does not know yet are shown as pending, with their text decrypted; they
   * are settled by their `sent` or `error` frame like any other, and never sent again from here.
   * A message pending since before that load that it no longer lists went through (or was
   * refused) meanwhile: the load brought its event, so its optimistic copy goes.
   */
  restorePending(roomId: string, snapshot: PendingSnapshot): void {
    const listed = new Set(snapshot.sends.map((p) => p.txn_id))
    const gone = this.#messages.filter(
      (m) =>
        m.roomId === roomId &&
        m.status === 'pending' &&
        m.pendingSince !== undefined &&
        m.pendingSince < snapshot.requestedAt &&
        !listed.has(m.txnId),
    )
    if (gone.length > 0)
      this.dispatch({ type: 'dropped', txnIds: new Set(gone.map((m) => m.txnId)) })

    for (const pending of snapshot.sends) {
      const txnId = pending.txn_id
      if (this.#known.has(txnId)) continue
      const settled = this.#settledUnknown.get(txnId)
      // Its event came, or is in the timeline already.
      if (settled !== undefined && settled.error === undefined) continue
      this.#known.add(txnId)
      this.dispatch({
        type: 'restored',
        message: { txnId, roomId, createdAt: pending.queued_at, pendingSince: Date.now() },
        error: settled?.error,
      })
      void this.#reveal(roomId, pending)
    }
  }

  dispatch(action: OutboxAction): void {
    if (
      (action.type === 'sent' || action.type === 'failed') &&
      !this.#messages.some((m) => m.txnId === action.txnId)
    ) {
      this.#settledUnknown.set(
        action.txnId,
        action.type === 'failed' ? { error: action.error } : {},
      )
    }
    const next = outboxReducer(this.#messages, action)
    if (next.length === this.#messages.length && next.every((m, i) => m === this.#messages[i])) {
      return
    }
    this.#messages = next
    for (const listener of [...this.#listeners]) listener()
  }

  async #attempt(txnId: string): Promise<void> {
    const message = this.#messages.find((m) => m.txnId === txnId)
    // Only `sending` goes out: a `pending` message is already queued on our server.
    if (message?.status !== 'sending') return
    try {
      const outcome = await this.#transmit(message)
      if (outcome.status === 'pending') this.dispatch({ type: 'pending', txnId, at: Date.now() })
      else this.dispatch({ type: 'sent', txnId, eventId: outcome.eventId, seq: outcome.seq })
    } catch (error) {
      this.dispatch({ type: 'failed', txnId, error: describeApiFailure(error).detail })
    }
  }

  async #reveal(roomId: string, pending: PendingSend): Promise<void> {
    const text = await this.#readPending(roomId, pending).catch(() => undefined)
    this.dispatch({
      type: 'revealed',
      txnId: pending.txn_id,
      text: text ?? UNREADABLE_PENDING_TEXT,
      readable: text !== undefined,
    })
  }

  async #readPending(roomId: string, pending: PendingSend): Promise<string | undefined> {
    if (pending.type === MESSAGE_EVENT_TYPE) return decodeMessage(pending.content)
    if (pending.type !== ENCRYPTED_EVENT_TYPE || this.#restore === undefined) return undefined
    const { userId, decrypt } = this.#restore
    const outcome = await decrypt(pendingAsEvent(roomId, userId, pending))
    if (!outcome.ok || outcome.type !== MESSAGE_EVENT_TYPE) return undefined
    return decodeMessage(outcome.content)
  }
}
