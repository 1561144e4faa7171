import { describe, expect, it, vi } from 'vitest'

import type { RoomEvent } from '@/features/chat/api/rooms'
import { DecryptionStore } from '@/features/chat/model/decryption-store'
import type { DecryptOutcome } from '@/lib/crypto/e2ee-client'

function encrypted(id: string, sessionId: string): RoomEvent {
  return {
    event_id: id,
    room_id: '!r:s',
    sender: '@ann:s',
    type: 'm.room.encrypted',
    seq: 1,
    origin_server_ts: 0,
    content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgA', session_id: sessionId },
  }
}

const missing: DecryptOutcome = {
  ok: false,
  code: 'missing-key',
  reason: 'The key for this message has not arrived yet.',
  sessionId: 'S1',
  retryable: true,
}
const hello: DecryptOutcome = {
  ok: true,
  type: 'parley.message',
  content: { body: 'hello' },
  senderDevice: 'D',
  verifiedDevice: false,
}

describe('decryption store', () => {
  it('shows an undecryptable message with its reason, and decrypts it when its key arrives', async () => {
    const onMissingKey = vi.fn()
    const store = new DecryptionStore(onMissingKey)
    const event = encrypted('$1', 'S1')
    const decrypt = vi.fn<(e: RoomEvent) => Promise<DecryptOutcome>>()
    decrypt.mockResolvedValueOnce(missing).mockResolvedValueOnce(hello)

    store.request([event])
    expect(store.view(event)).toEqual({ kind: 'decrypting' }) // the crypto is not ready yet
    store.setDecrypt(decrypt)
    await vi.waitFor(() => {
      expect(store.view(event).kind).toBe('undecryptable')
    })
    expect(store.view(event)).toEqual({
      kind: 'undecryptable',
      reason: 'The key for this message has not arrived yet.',
      waiting: true,
    })
    expect(onMissingKey).toHaveBeenCalledOnce()

    store.retrySessions(new Set(['other session']))
    expect(decrypt).toHaveBeenCalledTimes(1)
    store.retrySessions(new Set(['S1']))
    await vi.waitFor(() => {
      expect(store.view(event)).toEqual({
        kind: 'text',
        text: 'hello',
        encrypted: true,
        verifiedDevice: false,
      })
    })
    expect(decrypt).toHaveBeenCalledTimes(2)
  })

  it('retries at once when the key arrived while the attempt was under way', async () => {
    const store = new DecryptionStore()
    const event = encrypted('$2', 'S1')
    let finish: (outcome: DecryptOutcome) => void = () => undefined
    const decrypt = vi
      .fn<(e: RoomEvent) => Promise<DecryptOutcome>>()
      .mockImplementationOnce(
        () =>
          new Promise((resolve) => {
            finish = resolve
          }),
      )
      .mockResolvedValueOnce(hello)
    store.setDecrypt(decrypt)
    store.request([event])
    store.retrySessions(new Set(['S1'])) // the key lands before the first attempt answers
    finish(missing)
    await vi.waitFor(() => {
      expect(store.view(event).kind).toBe('text')
    })
  })

  it('never shows a decrypted non-message, or a plaintext event without text, as empty', () => {
    const store = new DecryptionStore()
    const legacy: RoomEvent = { ...encrypted('$3', 'S'), type: 'parley.message', content: {} }
    expect(store.view(legacy)).toEqual({
      kind: 'undecryptable',
      reason: 'The message has no text.',
      waiting: false,
    })
  })
})
