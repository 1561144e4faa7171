import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'

import { E2eeClient } from '@/lib/crypto/e2ee-client'

import {
  errorResponse,
  jsonResponse,
  mockFetch,
  renderApp,
  testServerInfo,
  testSession,
  testTokens,
} from '@/testing/test-utils'

const me = testTokens.user_id
const roomId = '!room1:org-a.example'
const encodedRoom = encodeURIComponent(roomId)

function event(seq: number, sender: string, type: string, content: Record<string, unknown>) {
  return {
    event_id: `$e${String(seq)}`,
    room_id: roomId,
    sender,
    type,
    seq,
    origin_server_ts: 1_790_000_000_000 + seq * 1000,
    content,
  }
}

const history = [
  event(1, me, 'parley.room.create', { kind: 'group', creator: me, name: 'Book club' }),
  event(2, me, 'parley.room.member', { user_id: me, membership: 'join', role: 'owner', by: me }),
  event(3, me, 'parley.room.member', {
    user_id: '@bob:org-a.example',
    membership: 'join',
    role: 'member',
    by: me,
  }),
  event(4, '@bob:org-a.example', 'parley.message', { body: 'Hello Alice' }),
  event(5, me, 'parley.message', { body: 'Hi Bob' }),
]

const room = {
  room_id: roomId,
  kind: 'group',
  name: 'Book club',
  topic: null,
  members: [
    { user_id: me, role: 'owner', delivered_seq: 5, read_seq: 5, online: true },
    { user_id: '@bob:org-a.example', role: 'member', delivered_seq: 5, read_seq: 4, online: true },
  ],
  my_role: 'owner',
  last_event: history[4],
  unread_count: 0,
  read_seq: 5,
}

/** The real crypto (wasm), with its store in memory: Node has no IndexedDB. */
function cryptoInMemory() {
  const open = E2eeClient.open.bind(E2eeClient)
  vi.spyOn(E2eeClient, 'open').mockImplementation((options) =>
    open({ ...options, persistent: false }),
  )
}

/** What the key endpoints answer for a server where nobody else has devices. */
function keyEndpoint(path: string) {
  switch (path) {
    case '/keys/upload':
    case '/keys/counts':
      return jsonResponse({
        one_time_key_counts: { signed_curve25519: 50 },
        unused_fallback_key_types: ['signed_curve25519'],
      })
    case '/keys/query':
      return jsonResponse({
        device_keys: {},
        master_keys: {},
        self_signing_keys: {},
        user_signing_keys: {},
        failures: {},
      })
    case '/keys/claim':
      return jsonResponse({ one_time_keys: {}, failures: {} })
    case '/sendToDevice/pending?limit=100':
      return jsonResponse({ events: [] })
    default:
      return undefined
  }
}

describe('chat view', () => {
  it('shows history with system lines and ticks, and retries a failed send with the same txn id', async () => {
    cryptoInMemory()
    const sends: string[] = []
    let failNext = true
    mockFetch((url, init) => {
      const path = url.replace(/^\/api\/v1/, '')
      if (path === '/server') return jsonResponse(testServerInfo)
      if (path === '/rooms') return jsonResponse({ rooms: [room] })
      if (path === `/rooms/${encodedRoom}`) return jsonResponse(room)
      const keys = keyEndpoint(path)
      if (keys) return keys
      if (path.startsWith(`/rooms/${encodedRoom}/events`)) {
        return jsonResponse({ events: history, next_before: null })
      }
      if (
        init?.method === 'PUT' &&
        path.startsWith(`/rooms/${encodedRoom}/send/m.room.encrypted/`)
      ) {
        sends.push(path)
        const body = JSON.parse(typeof init.body === 'string' ? init.body : '') as Record<
          string,
          unknown
        >
        // Encrypted in the browser: the text is not in what goes to the server.
        expect(body.algorithm).toBe('m.megolm.v1.aes-sha2')
        expect(typeof body.ciphertext).toBe('string')
        expect(JSON.stringify(body)).not.toContain('Are you there')
        if (failNext) {
          failNext = false
          return errorResponse(503, 'M_UNAVAILABLE', 'Try later')
        }
        return jsonResponse({ event_id: '$e6', seq: 6 })
      }
      return errorResponse(404, 'M_UNRECOGNIZED', `No mock for ${path}`)
    })
    const user = userEvent.setup()
    renderApp(`/chats/${encodedRoom}`, { session: testSession(testTokens) })

    const messages = await screen.findByRole('list', { name: 'Messages' })
    expect(await within(messages).findByText('Hello Alice')).toBeVisible()
    expect(within(messages).getByText(`${me} created the group`)).toBeVisible()
    expect(within(messages).getByText(`@bob:org-a.example was added by ${me}`)).toBeVisible()
    // Bob has received but not read "Hi Bob".
    const mine = within(messages).getByText('Hi Bob').closest('li')
    expect(mine?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe('delivered')

    const composer = screen.getByRole('textbox', { name: 'Message' })
    await user.type(composer, 'Are you there?{Enter}')
    expect(composer).toHaveValue('')

    // The first send waits for the crypto module (wasm) to load and make the device's keys.
    const retry = await screen.findByRole('button', { name: 'Retry' }, { timeout: 15_000 })
    expect(screen.getByText(/Not sent/)).toBeVisible()
    await user.click(retry)

    await waitFor(
      () => {
        expect(sends).toHaveLength(2)
      },
      { timeout: 5000 },
    )
    expect(sends[1]).toBe(sends[0])
    await waitFor(() => {
      const bubble = screen.getByText('Are you there?').closest('li')
      expect(bubble?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe('sent')
    })
    expect(screen.queryByRole('button', { name: 'Retry' })).not.toBeInTheDocument()
  }, 30_000)

  it('says so when the room is not one of the user’s', async () => {
    mockFetch((url) =>
      url.endsWith('/rooms') ? jsonResponse({ rooms: [] }) : jsonResponse(testServerInfo),
    )
    renderApp('/chats/%21nope%3Aorg-a.example', { session: testSession(testTokens) })
    expect(await screen.findByText('Conversation not found')).toBeVisible()
  })
})
