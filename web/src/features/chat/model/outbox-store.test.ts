import { describe, expect, it, vi } from 'vitest'

import type { SendOutcome } from '@/features/chat/api/rooms'
import { OutboxStore, type Transmit } from '@/features/chat/model/outbox-store'

function store(outcomes: (SendOutcome | Error)[]) {
  const transmit = vi.fn<Transmit>(() => {
    const next = outcomes.shift()
    if (next === undefined) throw new Error('no more answers')
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next)
  })
  return { outbox: new OutboxStore(transmit), transmit }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('OutboxStore', () => {
  it('keeps a message pending after a 202, without sending it again, until the sent frame', async () => {
    const { outbox, transmit } = store([{ status: 'pending' }])
    const txnId = outbox.send('!r:org-b.example', 'hello')
    expect(outbox.getSnapshot()[0]?.status).toBe('sending')
    await settle()
    expect(outbox.getSnapshot()[0]?.status).toBe('pending')

    // Already queued durably on our server: a retry here would only duplicate work.
    outbox.retry(txnId)
    await settle()
    expect(transmit).toHaveBeenCalledTimes(1)
    expect(outbox.getSnapshot()[0]?.status).toBe('pending')

    outbox.dispatch({ type: 'sent', txnId, eventId: '$e', seq: 4 })
    expect(outbox.getSnapshot()[0]).toMatchObject({ status: 'sent', eventId: '$e', seq: 4 })
  })

  it('retries a message the room’s server refused, with the same txn id', async () => {
    const { outbox, transmit } = store([
      { status: 'pending' },
      { status: 'stored', eventId: '$e', seq: 5 },
    ])
    const txnId = outbox.send('!r:org-b.example', 'hello')
    await settle()
    outbox.dispatch({ type: 'failed', txnId, error: 'The other server refused it.' })
    expect(outbox.getSnapshot()[0]).toMatchObject({ status: 'failed' })

    outbox.retry(txnId)
    await settle()
    expect(transmit).toHaveBeenCalledTimes(2)
    expect(transmit.mock.calls[1]?.[0].txnId).toBe(txnId)
    expect(outbox.getSnapshot()[0]).toMatchObject({ status: 'sent', seq: 5 })
  })

  it('marks a message failed when sending throws', async () => {
    const { outbox } = store([new Error('offline')])
    outbox.send('!r:s', 'hello')
    await settle()
    expect(outbox.getSnapshot()[0]).toMatchObject({ status: 'failed' })
  })
})
