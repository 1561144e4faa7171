import { describeApiFailure } from '@/lib/describe-api-failure'

import {
  newTxnId,
  outboxReducer,
  type OutboxAction,
  type OutgoingMessage,
} from '@/features/chat/model/outbox'

/** Sends one message; resolves to what the server stored it as. */
export type Transmit = (message: OutgoingMessage) => Promise<{ event_id: string; seq: number }>

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
    if (message?.status !== 'pending') return
    try {
      const stored = await this.#transmit(message)
      this.dispatch({ type: 'sent', txnId, eventId: stored.event_id, seq: stored.seq })
    } catch (error) {
      this.dispatch({ type: 'failed', txnId, error: describeApiFailure(error).detail })
    }
  }
}
