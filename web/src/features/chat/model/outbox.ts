/**
 * Messages on their way out, shown optimistically until the timeline holds them. Each has a
 * transaction id, kept across retries: the server stores a retried send only once.
 *
 * - `sending`: on its way to our server;
 * - `pending`: our server queued it durably for the room's server (another homeserver that has
 *   not confirmed yet); it goes through by itself, so it is not retried from here, and the
 *   WebSocket's `sent` or `error` frame for its transaction settles it;
 * - `sent`: stored in the room, with its event id and seq;
 * - `failed`: refused or not delivered; the user may retry.
 */
export type OutgoingStatus = 'sending' | 'pending' | 'sent' | 'failed'

export interface OutgoingMessage {
  txnId: string
  roomId: string
  text: string
  status: OutgoingStatus
  createdAt: number
  eventId?: string
  seq?: number
  error?: string | undefined
}

export type OutboxAction =
  | { type: 'queued'; message: Omit<OutgoingMessage, 'status'> }
  /** Our server accepted it but waits for the room's server (the 202 answer). */
  | { type: 'pending'; txnId: string }
  | { type: 'sent'; txnId: string; eventId: string; seq: number }
  | { type: 'failed'; txnId: string; error: string }
  | { type: 'retry'; txnId: string }
  /** The timeline now holds these events: their optimistic copies can go. */
  | { type: 'echoed'; eventIds: ReadonlySet<string> }

export function outboxReducer(
  state: readonly OutgoingMessage[],
  action: OutboxAction,
): OutgoingMessage[] {
  switch (action.type) {
    case 'queued':
      return [...state, { ...action.message, status: 'sending' }]
    case 'pending':
      return state.map((m) =>
        // The `sent` or `error` frame can overtake the 202 answer: the later 202 changes nothing.
        m.txnId === action.txnId && m.status === 'sending' ? { ...m, status: 'pending' } : m,
      )
    case 'sent':
      return state.map((m) =>
        m.txnId === action.txnId
          ? { ...m, status: 'sent', eventId: action.eventId, seq: action.seq, error: undefined }
          : m,
      )
    case 'failed':
      return state.map((m) =>
        // An answer that it was stored wins over a late failure of another attempt.
        m.txnId === action.txnId && m.status !== 'sent'
          ? { ...m, status: 'failed', error: action.error }
          : m,
      )
    case 'retry':
      return state.map((m) =>
        m.txnId === action.txnId && m.status === 'failed'
          ? { ...m, status: 'sending', error: undefined }
          : m,
      )
    case 'echoed': {
      const next = state.filter((m) => m.eventId === undefined || !action.eventIds.has(m.eventId))
      return next.length === state.length ? [...state] : next
    }
  }
}

/** A transaction id unique to this device. */
export function newTxnId(): string {
  return `m${Date.now().toString(36)}.${crypto.randomUUID()}`
}
