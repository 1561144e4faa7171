import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

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

describe('chat view', () => {
  it('shows history with system lines and ticks, and retries a failed send with the same txn id', async () => {
    const sends: string[] = []
    let failNext = true
    mockFetch((url, init) => {
      const path = url.replace(/^\/api\/v1/, '')
      if (path === '/server') return jsonResponse(testServerInfo)
      if (path === '/rooms') return jsonResponse({ rooms: [room] })
      if (path.startsWith(`/rooms/${encodedRoom}/events`)) {
        return jsonResponse({ events: history, next_before: null })
      }
      if (init?.method === 'PUT' && path.startsWith(`/rooms/${encodedRoom}/send/parley.message/`)) {
        sends.push(path)
        expect(JSON.parse(typeof init.body === 'string' ? init.body : '')).toEqual({
          body: 'Are you there?',
        })
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

    const retry = await screen.findByRole('button', { name: 'Retry' })
    expect(screen.getByText(/Not sent/)).toBeVisible()
    await user.click(retry)

    await waitFor(() => {
      expect(sends).toHaveLength(2)
    })
    expect(sends[1]).toBe(sends[0])
    await waitFor(() => {
      const bubble = screen.getByText('Are you there?').closest('li')
      expect(bubble?.querySelector('[data-tick]')?.getAttribute('data-tick')).toBe('sent')
    })
    expect(screen.queryByRole('button', { name: 'Retry' })).not.toBeInTheDocument()
  })

  it('says so when the room is not one of the user’s', async () => {
    mockFetch((url) =>
      url.endsWith('/rooms') ? jsonResponse({ rooms: [] }) : jsonResponse(testServerInfo),
    )
    renderApp('/chats/%21nope%3Aorg-a.example', { session: testSession(testTokens) })
    expect(await screen.findByText('Conversation not found')).toBeVisible()
  })
})
