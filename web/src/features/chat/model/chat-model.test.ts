import { describe, expect, it, vi } from 'vitest'

import { outboxReducer, type OutgoingMessage } from '@/features/chat/model/outbox'
import { tickFor } from '@/features/chat/model/ticks'
import { TYPING_REFRESH_MS, TypingNotifier } from '@/features/chat/model/typing-notifier'

const me = '@ann:s'

describe('tickFor', () => {
  const member = (user_id: string, delivered_seq: number, read_seq: number) => ({
    user_id,
    delivered_seq,
    read_seq,
  })

  it('is sent until another member received it', () => {
    expect(tickFor(5, [member(me, 9, 9), member('@bob:s', 4, 4)], me)).toBe('sent')
  })

  it('is delivered when any other member received it', () => {
    expect(tickFor(5, [member('@bob:s', 5, 2), member('@cy:s', 1, 1)], me)).toBe('delivered')
  })

  it('is read when any other member read it, whatever their delivered position', () => {
    expect(tickFor(5, [member('@bob:s', 5, 0), member('@cy:s', 0, 7)], me)).toBe('read')
  })

  it('ignores the sender’s own receipts', () => {
    expect(tickFor(5, [member(me, 10, 10)], me)).toBe('sent')
  })
})

describe('outboxReducer', () => {
  const queued = outboxReducer([], {
    type: 'queued',
    message: { txnId: 't1', roomId: '!r:s', text: 'hi', createdAt: 1 },
  })

  it('queues a message as sending', () => {
    expect(queued).toEqual([
      { txnId: 't1', roomId: '!r:s', text: 'hi', createdAt: 1, status: 'sending' },
    ])
  })

  it('goes sending → failed → sending (same txn id) → sent', () => {
    let state: OutgoingMessage[] = outboxReducer(queued, {
      type: 'failed',
      txnId: 't1',
      error: 'offline',
    })
    expect(state[0]).toMatchObject({ status: 'failed', error: 'offline' })
    state = outboxReducer(state, { type: 'retry', txnId: 't1' })
    expect(state[0]).toMatchObject({ txnId: 't1', status: 'sending', error: undefined })
    state = outboxReducer(state, { type: 'sent', txnId: 't1', eventId: '$e', seq: 3 })
    expect(state[0]).toMatchObject({ status: 'sent', eventId: '$e', seq: 3 })
  })

  it('keeps a sent message sent when a late failure arrives', () => {
    const sent = outboxReducer(queued, { type: 'sent', txnId: 't1', eventId: '$e', seq: 3 })
    const after = outboxReducer(sent, { type: 'failed', txnId: 't1', error: 'late' })
    expect(after[0]?.status).toBe('sent')
  })

  it('retries only failed messages', () => {
    expect(outboxReducer(queued, { type: 'retry', txnId: 't1' })[0]?.status).toBe('sending')
    const sent = outboxReducer(queued, { type: 'sent', txnId: 't1', eventId: '$e', seq: 3 })
    expect(outboxReducer(sent, { type: 'retry', txnId: 't1' })[0]?.status).toBe('sent')
  })

  it('drops a message once the timeline holds its event', () => {
    const sent = outboxReducer(queued, { type: 'sent', txnId: 't1', eventId: '$e', seq: 3 })
    expect(outboxReducer(sent, { type: 'echoed', eventIds: new Set(['$other']) })).toHaveLength(1)
    expect(outboxReducer(sent, { type: 'echoed', eventIds: new Set(['$e']) })).toHaveLength(0)
  })

  describe('pending (queued on our server for the room’s server)', () => {
    const pending = outboxReducer(queued, { type: 'pending', txnId: 't1', at: 1 })

    it('moves a sending message to pending on the 202 answer', () => {
      expect(pending[0]).toMatchObject({ status: 'pending' })
      expect(pending[0]?.eventId).toBeUndefined()
    })

    it('is settled by the sent frame', () => {
      const sent = outboxReducer(pending, { type: 'sent', txnId: 't1', eventId: '$e', seq: 9 })
      expect(sent[0]).toMatchObject({ status: 'sent', eventId: '$e', seq: 9 })
    })

    it('fails on the error frame, and may then be retried with the same txn id', () => {
      const failed = outboxReducer(pending, { type: 'failed', txnId: 't1', error: 'refused' })
      expect(failed[0]).toMatchObject({ status: 'failed', error: 'refused' })
      const again = outboxReducer(failed, { type: 'retry', txnId: 't1' })
      expect(again[0]).toMatchObject({ txnId: 't1', status: 'sending' })
      expect(outboxReducer(again, { type: 'pending', txnId: 't1', at: 1 })[0]?.status).toBe(
        'pending',
      )
    })

    it('is not retried: only a failed message is', () => {
      expect(outboxReducer(pending, { type: 'retry', txnId: 't1' })).toEqual(pending)
    })

    it('ignores a 202 that comes after the frame that settled the message', () => {
      const sent = outboxReducer(queued, { type: 'sent', txnId: 't1', eventId: '$e', seq: 9 })
      expect(outboxReducer(sent, { type: 'pending', txnId: 't1', at: 1 })[0]?.status).toBe('sent')
      const failed = outboxReducer(queued, { type: 'failed', txnId: 't1', error: 'refused' })
      expect(outboxReducer(failed, { type: 'pending', txnId: 't1', at: 1 })[0]?.status).toBe(
        'failed',
      )
    })

    it('stays while its event is in the timeline but the sent frame has not come', () => {
      expect(outboxReducer(pending, { type: 'echoed', eventIds: new Set(['$e']) })).toEqual(pending)
    })
  })

  describe('restored (listed as pending by a history load after a reload)', () => {
    const message = { txnId: 'r1', roomId: '!r:b', createdAt: 5, pendingSince: 10 }
    const restored = outboxReducer([], { type: 'restored', message })
    const pending = outboxReducer(queued, { type: 'pending', txnId: 't1', at: 1 })

    it('is pending, its text being decrypted', () => {
      expect(restored).toEqual([
        { ...message, text: '', status: 'pending', restored: 'decrypting' },
      ])
    })

    it('is failed when the error frame came first', () => {
      const failed = outboxReducer([], { type: 'restored', message, error: 'refused' })
      expect(failed[0]).toMatchObject({ status: 'failed', error: 'refused' })
    })

    it('leaves a transaction the outbox already has alone', () => {
      const restoredAgain = outboxReducer(pending, {
        type: 'restored',
        message: { ...message, txnId: 't1' },
      })
      expect(restoredAgain).toEqual(pending)
      expect(outboxReducer(restored, { type: 'restored', message })).toEqual(restored)
    })

    it('gets its text, or what to show instead', () => {
      const readable = outboxReducer(restored, {
        type: 'revealed',
        txnId: 'r1',
        text: 'hello',
        readable: true,
      })
      expect(readable[0]).toMatchObject({ text: 'hello', restored: 'readable', status: 'pending' })
      const unreadable = outboxReducer(restored, {
        type: 'revealed',
        txnId: 'r1',
        text: 'Can’t show it',
        readable: false,
      })
      expect(unreadable[0]).toMatchObject({ text: 'Can’t show it', restored: 'unreadable' })
    })

    it('is settled by the sent frame, and goes once the timeline holds its event', () => {
      const sent = outboxReducer(restored, { type: 'sent', txnId: 'r1', eventId: '$e', seq: 3 })
      expect(sent[0]).toMatchObject({ status: 'sent', eventId: '$e' })
      expect(outboxReducer(sent, { type: 'echoed', eventIds: new Set(['$e']) })).toEqual([])
    })

    it('is retried only with its text known', () => {
      const failed = outboxReducer(restored, { type: 'failed', txnId: 'r1', error: 'refused' })
      expect(outboxReducer(failed, { type: 'retry', txnId: 'r1' })[0]?.status).toBe('failed')
      const unreadable = outboxReducer(failed, {
        type: 'revealed',
        txnId: 'r1',
        text: 'Can’t show it',
        readable: false,
      })
      expect(outboxReducer(unreadable, { type: 'retry', txnId: 'r1' })[0]?.status).toBe('failed')
      const readable = outboxReducer(failed, {
        type: 'revealed',
        txnId: 'r1',
        text: 'hello',
        readable: true,
      })
      expect(outboxReducer(readable, { type: 'retry', txnId: 'r1' })[0]?.status).toBe('sending')
    })

    it('is dropped by transaction id', () => {
      const both = [...pending, ...restored]
      expect(outboxReducer(both, { type: 'dropped', txnIds: new Set(['r1']) })).toEqual(pending)
      expect(outboxReducer(both, { type: 'dropped', txnIds: new Set(['x']) })).toEqual(both)
    })
  })
})

describe('TypingNotifier', () => {
  function setup() {
    let now = 0
    const send = vi.fn<(typing: boolean) => void>()
    const notifier = new TypingNotifier(send, () => now)
    return {
      notifier,
      send,
      advance: (ms: number) => {
        now += ms
      },
    }
  }

  it('sends one start while typing, refreshed every 10 seconds', () => {
    const { notifier, send, advance } = setup()
    notifier.input('h')
    advance(1000)
    notifier.input('he')
    advance(1000)
    notifier.input('hel')
    expect(send.mock.calls).toEqual([[true]])
    advance(TYPING_REFRESH_MS)
    notifier.input('hell')
    expect(send.mock.calls).toEqual([[true], [true]])
  })

  it('sends a stop when the draft is emptied, once', () => {
    const { notifier, send } = setup()
    notifier.input('h')
    notifier.input('')
    notifier.input('   ')
    expect(send.mock.calls).toEqual([[true], [false]])
  })

  it('sends a stop on send or blur only after a start', () => {
    const { notifier, send } = setup()
    notifier.stop()
    expect(send).not.toHaveBeenCalled()
    notifier.input('hello')
    notifier.stop()
    notifier.stop()
    expect(send.mock.calls).toEqual([[true], [false]])
    notifier.input('again')
    expect(send.mock.calls).toEqual([[true], [false], [true]])
  })
})
