import { describeApiFailure } from '@/lib/describe-api-failure'

import type { SendOutcome } from '@/features/chat/api/rooms'
import {
  newTxnId,
  outboxReducer,
  type OutboxAction,
  type OutgoingMessage,
} from '@/features/chat/model/outbox'

/**
 * Sends one message; resolves to what the server stored it as, or to `pending` when our server
 * queued it for the room's server.
 */
export type Transmit = (message: OutgoingMessage) => Promise<SendOutcome>

/** The optimistic messages of every room, and their sending. */
export class OutboxStore {
  #messages: OutgoingMessage[] = []
  readonly #listeners = new Set<() => void>()
  readonly #transmit: Transmit

  constructor(transmit: Transmit) {
    this.#transmit = transmit
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getSnapshot = (): readonly OutgoingMessage[] => this.#messages

  send(roomId: string, text: string): string {
    const txnId = newTxnId()
    this.dispatch({ type: 'queued', message: { txnId, roomId, text, createdAt: Date.now() } })
    void this.#attempt(txnId)
    return txnId
  }

  /** Send a failed message again, with the same transaction id. */
  retry(txnId: string): void {
    this.dispatch({ type: 'retry', txnId })
    void this.#attempt(txnId)
  }

  dispatch(action: OutboxAction): void {
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
      if (outcome.status === 'pending') this.dispatch({ type: 'pending', txnId })
      else this.dispatch({ type: 'sent', txnId, eventId: outcome.eventId, seq: outcome.seq })
    } catch (error) {
      this.dispatch({ type: 'failed', txnId, error: describeApiFailure(error).detail })
    }
  }
}
