/**
 * How realtime frames change the cached room list and timelines, so that the screens update
 * without asking the server again.
 */
import type { QueryClient } from '@tanstack/react-query'

import {
  mergeEvents,
  roomKeys,
  sortRooms,
  type RoomEvent,
  type RoomSummary,
  type Timeline,
} from '@/features/chat/api/rooms'

/** Events the server writes about the room itself: membership, name, topic. */
export function isStateEvent(event: RoomEvent): boolean {
  return event.type.startsWith('parley.room.')
}

export function applyEvent(
  queryClient: QueryClient,
  event: RoomEvent,
  me: string,
  activeRoomId: string | undefined,
): void {
  const timelineKey = roomKeys.timeline(event.room_id)
  if (queryClient.getQueryData<Timeline>(timelineKey)) {
    queryClient.setQueryData<Timeline>(timelineKey, (timeline) =>
      timeline ? { ...timeline, events: mergeEvents(timeline.events, [event]) } : timeline,
    )
  }

  const rooms = queryClient.getQueryData<RoomSummary[]>(roomKeys.list())
  const known = rooms?.some((room) => room.room_id === event.room_id) ?? false
  if (rooms && known) {
    queryClient.setQueryData<RoomSummary[]>(roomKeys.list(), (list) =>
      list
        ? sortRooms(
            list.map((room) => {
              if (room.room_id !== event.room_id) return room
              if (room.last_event && room.last_event.seq >= event.seq) return room
              const fromOther = event.sender !== me
              return {
                ...room,
                last_event: event,
                unread_count:
                  fromOther && activeRoomId !== room.room_id
                    ? room.unread_count + 1
                    : room.unread_count,
              }
            }),
          )
        : list,
    )
  }
  // New rooms, members, roles, names: the server's summary says it best.
  if (!known || isStateEvent(event)) {
    void queryClient.invalidateQueries({ queryKey: roomKeys.list() })
  }
}

export function applyReceipt(
  queryClient: QueryClient,
  receipt: { room_id: string; user_id: string; delivered_seq: number; read_seq: number },
  me: string,
): void {
  queryClient.setQueryData<RoomSummary[]>(roomKeys.list(), (rooms) =>
    rooms?.map((room) => {
      if (room.room_id !== receipt.room_id) return room
      const members = room.members.map((member) =>
        member.user_id === receipt.user_id
          ? {
              ...member,
              delivered_seq: Math.max(member.delivered_seq, receipt.delivered_seq),
              read_seq: Math.max(member.read_seq, receipt.read_seq),
            }
          : member,
      )
      if (receipt.user_id !== me) return { ...room, members }
      const readSeq = Math.max(room.read_seq, receipt.read_seq)
      const lastSeq = room.last_event?.seq ?? 0
      return {
        ...room,
        members,
        read_seq: readSeq,
        unread_count: readSeq >= lastSeq ? 0 : room.unread_count,
      }
    }),
  )
}

export function applyPresence(
  queryClient: QueryClient,
  presence: { user_id: string; online: boolean; last_seen_at?: number | null | undefined },
): void {
  queryClient.setQueryData<RoomSummary[]>(roomKeys.list(), (rooms) =>
    rooms?.map((room) =>
      room.members.some((m) => m.user_id === presence.user_id)
        ? {
            ...room,
            members: room.members.map((m) =>
              m.user_id === presence.user_id
                ? { ...m, online: presence.online, last_seen_at: presence.last_seen_at ?? null }
                : m,
            ),
          }
        : room,
    ),
  )
}

/** The caller read up to `seq`: no unread messages left before it. */
export function applyOwnRead(queryClient: QueryClient, roomId: string, seq: number): void {
  queryClient.setQueryData<RoomSummary[]>(roomKeys.list(), (rooms) =>
    rooms?.map((room) =>
      room.room_id === roomId && seq > room.read_seq
        ? {
            ...room,
            read_seq: seq,
            unread_count: seq >= (room.last_event?.seq ?? 0) ? 0 : room.unread_count,
          }
        : room,
    ),
  )
}
