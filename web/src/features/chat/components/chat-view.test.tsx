import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'

import { E2eeClient } from '@/lib/crypto/e2ee-client'

import {
  errorResponse,
  installDialogPolyfill,
  jsonResponse,
  mockFetch,
  renderApp,
  testServerInfo,
  testSession,
  testTokens,
} from '@/testing/test-utils'

installDialogPolyfill()

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

  it('shows a room of another server: who is remote, who hosts it, and a send waiting for it', async () => {
    cryptoInMemory()
    const farRoom = '!far:org-b.example'
    const encodedFar = encodeURIComponent(farRoom)
    const cy = '@cy:org-b.example'
    const bob = '@bob:org-a.example'
    const farEvent = (seq: number, sender: string, type: string, content: object) => ({
      ...event(seq, sender, type, { ...content }),
      event_id: `$far${String(seq)}`,
      room_id: farRoom,
    })
    const farHistory = [
      farEvent(1, cy, 'parley.room.create', { kind: 'group', creator: cy, name: 'Partners' }),
      farEvent(2, cy, 'parley.room.member', { user_id: cy, membership: 'join', role: 'owner' }),
      farEvent(3, cy, 'parley.room.member', { user_id: me, membership: 'join', by: cy }),
      farEvent(4, cy, 'parley.room.member', { user_id: bob, membership: 'join', by: cy }),
      farEvent(5, cy, 'parley.message', { body: 'Hello from B' }),
    ]
    const far = {
      ...room,
      room_id: farRoom,
      name: 'Partners',
      members: [
        { user_id: cy, role: 'owner', delivered_seq: 5, read_seq: 5, online: false },
        { user_id: me, role: 'member', delivered_seq: 5, read_seq: 5, online: true },
        { user_id: bob, role: 'member', delivered_seq: 5, read_seq: 5, online: true },
      ],
      my_role: 'member',
      last_event: farHistory[4],
    }
    const sends: string[] = []
    mockFetch((url, init) => {
      const path = url.replace(/^\/api\/v1/, '')
      if (path === '/server') return jsonResponse(testServerInfo)
      if (path === '/rooms') return jsonResponse({ rooms: [far] })
      if (path === `/rooms/${encodedFar}`) return jsonResponse(far)
      const keys = keyEndpoint(path)
      if (keys) return keys
      if (path.startsWith(`/rooms/${encodedFar}/events`)) {
        return jsonResponse({ events: farHistory, next_before: null })
      }
      if (init?.method === 'PUT' && path.startsWith(`/rooms/${encodedFar}/send/`)) {
        sends.push(path)
        const txnId = decodeURIComponent(path.split('/').at(-1) ?? '')
        return jsonResponse({ pending: true, txn_id: txnId }, { status: 202 })
      }
      return errorResponse(404, 'M_UNRECOGNIZED', `No mock for ${path}`)
    })
    const user = userEvent.setup()
    renderApp(`/chats/${encodedFar}`, { session: testSession(testTokens) })

    const messages = await screen.findByRole('list', { name: 'Messages' })
    expect(await within(messages).findByText('Hello from B')).toBeVisible()
    // Remote users say their server; local ones look as they always did.
    expect(within(messages).getByText('cy (org-b.example) created the group')).toBeVisible()
    expect(within(messages).getByText(`${bob} was added by cy (org-b.example)`)).toBeVisible()
    const sender = messages.querySelector('[data-remote-server]')
    expect(sender?.getAttribute('data-remote-server')).toBe('org-b.example')
    expect(sender).toHaveAttribute('title', cy)
    expect(screen.getByTestId('room-host')).toHaveTextContent('Hosted by org-b.example')

    await user.type(screen.getByRole('textbox', { name: 'Message' }), 'Are you there?{Enter}')
    await waitFor(
      () => {
        const bubble = screen.getByText('Are you there?').closest('li')
        expect(bubble?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe('pending')
      },
      { timeout: 15_000 },
    )
    expect(screen.getByText('Waiting for org-b.example')).toBeVisible()
    expect(screen.queryByRole('button', { name: 'Retry' })).not.toBeInTheDocument()
    // Queued on our server already: nothing is sent again from here.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(sends).toHaveLength(1)

    await user.click(screen.getByRole('button', { name: 'Group details' }))
    const members = await screen.findByTestId('member-list')
    const cyRow = within(members)
      .getAllByTestId('member')
      .find((row) => row.textContent.includes('cy'))
    expect(cyRow?.querySelector('[data-testid="server-badge"]')).toHaveTextContent('org-b.example')
    const bobRow = within(members)
      .getAllByTestId('member')
      .find((row) => row.textContent.includes(bob))
    expect(bobRow?.querySelector('[data-testid="server-badge"]')).toBeNull()
    expect(screen.getAllByTestId('room-host')).toHaveLength(2)
  }, 30_000)

  it('shows this device’s sends still waiting for another server after a reload', async () => {
    cryptoInMemory()
    const decrypt = vi.spyOn(E2eeClient.prototype, 'decrypt').mockImplementation((event) =>
      Promise.resolve(
        event.content.ciphertext === 'readable'
          ? {
              ok: true,
              type: 'parley.message',
              content: { body: 'Sent before the reload' },
              senderDevice: testTokens.device_id,
              verifiedDevice: true,
            }
          : {
              ok: false,
              code: 'missing-key',
              reason: 'The key is missing.',
              sessionId: 's',
              retryable: true,
            },
      ),
    )
    const farRoom = '!far:org-b.example'
    const encodedFar = encodeURIComponent(farRoom)
    const cy = '@cy:org-b.example'
    const farHistory = [
      { ...event(1, cy, 'parley.message', { body: 'Hello from B' }), room_id: farRoom },
    ]
    const far = {
      ...room,
      room_id: farRoom,
      name: 'Partners',
      members: [
        { user_id: cy, role: 'owner', delivered_seq: 1, read_seq: 1, online: false },
        { user_id: me, role: 'member', delivered_seq: 1, read_seq: 1, online: true },
      ],
      my_role: 'member',
      last_event: farHistory[0],
      read_seq: 1,
    }
    const encrypted = (ciphertext: string) => ({
      algorithm: 'm.megolm.v1.aes-sha2',
      sender_key: 'k',
      ciphertext,
      session_id: 's',
      device_id: testTokens.device_id,
    })
    const sends: string[] = []
    mockFetch((url, init) => {
      const path = url.replace(/^\/api\/v1/, '')
      if (path === '/server') return jsonResponse(testServerInfo)
      if (path === '/rooms') return jsonResponse({ rooms: [far] })
      if (path === `/rooms/${encodedFar}`) return jsonResponse(far)
      const keys = keyEndpoint(path)
      if (keys) return keys
      if (path.startsWith(`/rooms/${encodedFar}/events`)) {
        return jsonResponse({
          events: farHistory,
          next_before: null,
          pending: [
            {
              txn_id: 'tx1',
              type: 'm.room.encrypted',
              content: encrypted('readable'),
              queued_at: 1_790_000_005_000,
            },
            {
              txn_id: 'tx2',
              type: 'm.room.encrypted',
              content: encrypted('unreadable'),
              queued_at: 1_790_000_006_000,
            },
          ],
        })
      }
      if (init?.method === 'PUT') sends.push(path)
      return errorResponse(404, 'M_UNRECOGNIZED', `No mock for ${path}`)
    })
    renderApp(`/chats/${encodedFar}`, { session: testSession(testTokens) })

    const messages = await screen.findByRole('list', { name: 'Messages' })
    expect(await within(messages).findByText('Hello from B')).toBeVisible()
    const restored = await within(messages).findByText(
      'Sent before the reload',
      {},
      { timeout: 15_000 },
    )
    const bubble = restored.closest('li')
    expect(bubble?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe('pending')
    const unreadable = await within(messages).findByText(/Can’t show this pending message/)
    expect(unreadable.closest('li')?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe(
      'pending',
    )
    expect(within(messages).getAllByText('Waiting for org-b.example')).toHaveLength(2)
    // Decrypted as this user's own events in the room.
    expect(decrypt).toHaveBeenCalledWith(
      expect.objectContaining({
        room_id: farRoom,
        sender: me,
        origin_server_ts: 1_790_000_005_000,
      }),
    )
    // Already queued on our server: nothing is sent again from here.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(sends).toEqual([])
  }, 30_000)

  it('says so when the room is not one of the user’s', async () => {
    mockFetch((url) =>
      url.endsWith('/rooms') ? jsonResponse({ rooms: [] }) : jsonResponse(testServerInfo),
    )
    renderApp('/chats/%21nope%3Aorg-a.example', { session: testSession(testTokens) })
    expect(await screen.findByText('Conversation not found')).toBeVisible()
  })
})
