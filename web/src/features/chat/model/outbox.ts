/**
 * Messages on their way out, shown optimistically until the timeline holds them. Each has a
 * transaction id, kept across retries: the server stores a retried send only once.
 *
 * - `sending`: on its way to our server;
 * - `pending`: our server queued it durably for the room's server (another homeserver that has
 *   not confirmed yet); it goes through by itself, so it is not retried from here, and the
 *   WebSocket's `sent` or `error` frame for its transaction settles it. After a reload such
 *   messages come back from the server with the newest page of the room's history (`restored`);
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
  /** When it became `pending` (the 202 answer, or restored from a history load). */
  pendingSince?: number
  /**
   * Only for a message restored from the server's list of pending sends (after a reload): its
   * text is being decrypted (`decrypting`), was (`readable`), or could not be (`unreadable`:
   * `text` then says so). Only a `readable` one can be sent again from here.
   */
  restored?: 'decrypting' | 'readable' | 'unreadable'
}

/** Whether the user may send it again (it failed, and its text is known). */
export function canRetry(message: OutgoingMessage): boolean {
  return (
    message.status === 'failed' &&
    (message.restored === undefined || message.restored === 'readable')
  )
}

export type OutboxAction =
  | { type: 'queued'; message: Omit<OutgoingMessage, 'status'> }
  /** Our server accepted it but waits for the room's server (the 202 answer), since `at`. */
  | { type: 'pending'; txnId: string; at: number }
  /**
   * Our server lists it as waiting for the room's server (a history load after a reload): shown
   * as `pending` (or `failed`, when an `error` frame for it came first) while its text is
   * decrypted. Ignored when the outbox already has this transaction.
   */
  | {
      type: 'restored'
      message: Pick<OutgoingMessage, 'txnId' | 'roomId' | 'createdAt' | 'pendingSince'>
      error?: string | undefined
    }
  /** The text of a restored message, or what to show instead (`readable: false`). */
  | { type: 'revealed'; txnId: string; text: string; readable: boolean }
  /** Our server no longer lists them as pending: they were delivered (or refused) meanwhile. */
  | { type: 'dropped'; txnIds: ReadonlySet<string> }
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
        m.txnId === action.txnId && m.status === 'sending'
          ? { ...m, status: 'pending', pendingSince: action.at }
          : m,
      )
    case 'restored':
      if (state.some((m) => m.txnId === action.message.txnId)) return [...state]
      return [
        ...state,
        {
          ...action.message,
          text: '',
          restored: 'decrypting',
          ...(action.error === undefined
            ? { status: 'pending' }
            : { status: 'failed', error: action.error }),
        },
      ]
    case 'revealed':
      return state.map((m) =>
        m.txnId === action.txnId && m.restored === 'decrypting'
          ? { ...m, text: action.text, restored: action.readable ? 'readable' : 'unreadable' }
          : m,
      )
    case 'dropped': {
      const next = state.filter((m) => !action.txnIds.has(m.txnId))
      return next.length === state.length ? [...state] : next
    }
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
        m.txnId === action.txnId && canRetry(m) ? { ...m, status: 'sending', error: undefined } : m,
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
