/**
 * Messages on their way out, shown optimistically until the timeline holds them. Each has a
 * transaction id, kept across retries: the server stores a retried send only once.
 */
export type OutgoingStatus = 'pending' | 'sent' | 'failed'

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
      return [...state, { ...action.message, status: 'pending' }]
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
          ? { ...m, status: 'pending', error: undefined }
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
