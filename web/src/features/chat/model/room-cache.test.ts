import { QueryClient } from '@tanstack/react-query'
import { describe, expect, it } from 'vitest'

import {
  roomKeys,
  type RoomEvent,
  type RoomSummary,
  type Timeline,
} from '@/features/chat/api/rooms'
import { applyEvent, applyOwnRead, applyReceipt } from '@/features/chat/model/room-cache'

const me = '@ann:s'
const roomId = '!r:s'

function message(seq: number, sender = '@bob:s'): RoomEvent {
  return {
    event_id: `$${String(seq)}`,
    room_id: roomId,
    sender,
    type: 'parley.message',
    seq,
    origin_server_ts: seq * 1000,
    content: { body: `m${String(seq)}` },
  }
}

function room(overrides: Partial<RoomSummary> = {}): RoomSummary {
  return {
    room_id: roomId,
    kind: 'group',
    name: 'G',
    members: [
      { user_id: me, role: 'owner', delivered_seq: 1, read_seq: 1, online: true },
      { user_id: '@bob:s', role: 'member', delivered_seq: 1, read_seq: 1, online: true },
    ],
    my_role: 'owner',
    last_event: message(1),
    unread_count: 0,
    read_seq: 1,
    ...overrides,
  }
}

function setup() {
  const queryClient = new QueryClient()
  queryClient.setQueryData(roomKeys.list(), [
    room({ room_id: '!other:s', last_event: null }),
    room(),
  ])
  queryClient.setQueryData<Timeline>(roomKeys.timeline(roomId), {
    events: [message(1)],
    nextBefore: null,
  })
  const list = () => queryClient.getQueryData<RoomSummary[]>(roomKeys.list()) ?? []
  const timeline = () => queryClient.getQueryData<Timeline>(roomKeys.timeline(roomId))
  return { queryClient, list, timeline }
}

describe('applyEvent', () => {
  it('appends to the timeline once, counts it unread and moves the room to the top', () => {
    const { queryClient, list, timeline } = setup()
    applyEvent(queryClient, message(2), me, undefined)
    applyEvent(queryClient, message(2), me, undefined)

    expect(timeline()?.events.map((e) => e.seq)).toEqual([1, 2])
    expect(list()[0]?.room_id).toBe(roomId)
    expect(list()[0]?.unread_count).toBe(1)
    expect(list()[0]?.last_event?.seq).toBe(2)
  })

  it('does not count messages of the open room, nor one’s own', () => {
    const { queryClient, list } = setup()
    applyEvent(queryClient, message(2), me, roomId)
    applyEvent(queryClient, message(3, me), me, undefined)
    expect(list().find((r) => r.room_id === roomId)?.unread_count).toBe(0)
  })
})

describe('receipts', () => {
  it('moves members’ markers forward only', () => {
    const { queryClient, list } = setup()
    applyReceipt(
      queryClient,
      { room_id: roomId, user_id: '@bob:s', delivered_seq: 5, read_seq: 4 },
      me,
    )
    applyReceipt(
      queryClient,
      { room_id: roomId, user_id: '@bob:s', delivered_seq: 2, read_seq: 2 },
      me,
    )
    const bob = list()
      .find((r) => r.room_id === roomId)
      ?.members.find((m) => m.user_id === '@bob:s')
    expect(bob).toMatchObject({ delivered_seq: 5, read_seq: 4 })
  })

  it('clears the unread count when the caller read to the end', () => {
    const { queryClient, list } = setup()
    applyEvent(queryClient, message(2), me, undefined)
    applyOwnRead(queryClient, roomId, 2)
    expect(list().find((r) => r.room_id === roomId)).toMatchObject({ read_seq: 2, unread_count: 0 })
  })
})
