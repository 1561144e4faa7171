import { describe, expect, it, vi } from 'vitest'

import type { PendingSend, SendOutcome } from '@/features/chat/api/rooms'
import {
  OutboxStore,
  UNREADABLE_PENDING_TEXT,
  type RestoreOptions,
  type Transmit,
} from '@/features/chat/model/outbox-store'
import type { DecryptOutcome } from '@/lib/crypto/e2ee-client'

const ME = '@ann:org-a.example'
const ROOM = '!r:org-b.example'

function store(
  outcomes: (SendOutcome | Error)[],
  decrypt: RestoreOptions['decrypt'] = () => Promise.reject(new Error('no decrypt')),
) {
  const transmit = vi.fn<Transmit>(() => {
    const next = outcomes.shift()
    if (next === undefined) throw new Error('no more answers')
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next)
  })
  const restore = { userId: ME, decrypt: vi.fn(decrypt) }
  return { outbox: new OutboxStore(transmit, restore), transmit, decrypt: restore.decrypt }
}

/** A mock of the crypto: the plaintext is in the "ciphertext". */
const decryptMock: RestoreOptions['decrypt'] = (event) =>
  Promise.resolve<DecryptOutcome>(
    event.content.ciphertext === 'garbage'
      ? {
          ok: false,
          code: 'missing-key',
          reason: 'The key is missing.',
          sessionId: 's',
          retryable: true,
        }
      : {
          ok: true,
          type: 'parley.message',
          content: { body: String(event.content.ciphertext) },
          senderDevice: 'ANNDEVICE',
          verifiedDevice: true,
        },
  )

function sent(txnId: string, text: string, queuedAt = 1000): PendingSend {
  return {
    txn_id: txnId,
    type: 'm.room.encrypted',
    content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: text, session_id: 's' },
    queued_at: queuedAt,
  }
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

  describe('restoring pending sends listed by a history load', () => {
    it('shows them as pending with their decrypted text, and never sends them', async () => {
      const { outbox, transmit, decrypt } = store([], decryptMock)
      outbox.restorePending(ROOM, {
        sends: [sent('t1', 'first', 1000), sent('t2', 'second', 2000)],
        requestedAt: Date.now(),
      })
      expect(outbox.getSnapshot()).toMatchObject([
        { txnId: 't1', status: 'pending', restored: 'decrypting', createdAt: 1000 },
        { txnId: 't2', status: 'pending', restored: 'decrypting', createdAt: 2000 },
      ])
      await settle()
      expect(outbox.getSnapshot()).toMatchObject([
        { txnId: 't1', roomId: ROOM, status: 'pending', text: 'first', restored: 'readable' },
        { txnId: 't2', roomId: ROOM, status: 'pending', text: 'second', restored: 'readable' },
      ])
      // Decrypted as an event of the room sent by this user.
      expect(decrypt).toHaveBeenCalledWith(
        expect.objectContaining({
          room_id: ROOM,
          sender: ME,
          type: 'm.room.encrypted',
          origin_server_ts: 1000,
          content: sent('t1', 'first').content,
          event_id: expect.stringMatching(/^\$/) as unknown,
        }),
      )

      outbox.retry('t1')
      await settle()
      expect(transmit).not.toHaveBeenCalled()

      outbox.dispatch({ type: 'sent', txnId: 't1', eventId: '$e', seq: 7 })
      expect(outbox.getSnapshot()[0]).toMatchObject({ status: 'sent', eventId: '$e', seq: 7 })
      outbox.dispatch({ type: 'failed', txnId: 't2', error: 'Refused.' })
      expect(outbox.getSnapshot()[1]).toMatchObject({ status: 'failed', error: 'Refused.' })
      expect(transmit).not.toHaveBeenCalled()
    })

    it('says so when one cannot be decrypted, and does not offer to send it again', async () => {
      const { outbox, transmit } = store([], decryptMock)
      outbox.restorePending(ROOM, { sends: [sent('t1', 'garbage')], requestedAt: Date.now() })
      await settle()
      expect(outbox.getSnapshot()[0]).toMatchObject({
        status: 'pending',
        text: UNREADABLE_PENDING_TEXT,
        restored: 'unreadable',
      })
      outbox.dispatch({ type: 'failed', txnId: 't1', error: 'Refused.' })
      outbox.retry('t1')
      await settle()
      expect(transmit).not.toHaveBeenCalled()
      expect(outbox.getSnapshot()[0]?.status).toBe('failed')
    })

    it('says so when decrypting throws', async () => {
      const { outbox } = store([])
      outbox.restorePending(ROOM, { sends: [sent('t1', 'x')], requestedAt: Date.now() })
      await settle()
      expect(outbox.getSnapshot()[0]).toMatchObject({ text: UNREADABLE_PENDING_TEXT })
    })

    it('skips transactions it knows, also those that have left it', async () => {
      const { outbox, decrypt } = store([{ status: 'pending' }], decryptMock)
      const mine = outbox.send(ROOM, 'typed here')
      await settle()
      outbox.restorePending(ROOM, {
        sends: [sent(mine, 'typed here'), sent('t2', 'other')],
        requestedAt: Date.now(),
      })
      await settle()
      expect(outbox.getSnapshot()).toMatchObject([
        { txnId: mine, text: 'typed here', status: 'pending' },
        { txnId: 't2', text: 'other', status: 'pending' },
      ])
      expect(decrypt).toHaveBeenCalledTimes(1)
      expect(outbox.getSnapshot()[0]?.restored).toBeUndefined()

      outbox.dispatch({ type: 'sent', txnId: 't2', eventId: '$e2', seq: 3 })
      outbox.dispatch({ type: 'echoed', eventIds: new Set(['$e2']) })
      expect(outbox.getSnapshot()).toHaveLength(1)
      // An older snapshot again (the conversation opened once more): t2 stays gone.
      outbox.restorePending(ROOM, { sends: [sent('t2', 'other')], requestedAt: 0 })
      expect(outbox.getSnapshot().map((m) => m.txnId)).toEqual([mine])
    })

    it('skips one whose sent frame came before the history load; fails one refused first', () => {
      const { outbox } = store([], decryptMock)
      outbox.dispatch({ type: 'sent', txnId: 't1', eventId: '$e', seq: 3 })
      outbox.dispatch({ type: 'failed', txnId: 't2', error: 'Refused.' })
      outbox.restorePending(ROOM, {
        sends: [sent('t1', 'a'), sent('t2', 'b')],
        requestedAt: Date.now(),
      })
      expect(outbox.getSnapshot()).toMatchObject([
        { txnId: 't2', status: 'failed', error: 'Refused.' },
      ])
    })

    it('drops a message pending since before a load that no longer lists it', async () => {
      vi.useFakeTimers({ now: 10_000, toFake: ['Date'] })
      try {
        const { outbox } = store([{ status: 'pending' }, { status: 'pending' }], decryptMock)
        outbox.restorePending(ROOM, { sends: [sent('t1', 'old')], requestedAt: 9_000 })
        outbox.send(ROOM, 'early')
        await settle()
        vi.setSystemTime(11_000)
        const requestedAt = Date.now() // a load is asked for…
        vi.setSystemTime(12_000)
        const late = outbox.send(ROOM, 'late') // …and a message goes pending meanwhile
        const elsewhere = outbox.send('!other:org-b.example', 'elsewhere')
        await settle()
        expect(outbox.getSnapshot().map((m) => m.status)).toEqual([
          'pending',
          'pending',
          'pending',
          'failed', // no more answers
        ])

        // t1 and `early` went through (or were refused) while the page was closed.
        outbox.restorePending(ROOM, { sends: [], requestedAt })
        expect(outbox.getSnapshot().map((m) => m.txnId)).toEqual([late, elsewhere])
      } finally {
        vi.useRealTimers()
      }
    })

    it('keeps a message that the load still lists', async () => {
      const { outbox } = store([{ status: 'pending' }], decryptMock)
      const txnId = outbox.send(ROOM, 'hello')
      await settle()
      outbox.restorePending(ROOM, { sends: [sent(txnId, 'hello')], requestedAt: Date.now() + 1 })
      expect(outbox.getSnapshot()).toMatchObject([{ txnId, status: 'pending', text: 'hello' }])
    })
  })
})
