/** The rooms API: schemas, query keys, fetchers and hooks for the room list and timelines. */
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query'
import * as z from 'zod'

import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthSession } from '@/lib/auth/use-auth'
import { roomEventSchema, type RoomEvent } from '@/lib/realtime/frames'

export type { RoomEvent }

const roleSchema = z.enum(['member', 'admin', 'owner'])
export type Role = z.infer<typeof roleSchema>

export const memberSchema = z.object({
  user_id: z.string(),
  role: roleSchema,
  delivered_seq: z.number().int(),
  read_seq: z.number().int(),
  online: z.boolean(),
  last_seen_at: z.number().nullish(),
})
export type Member = z.infer<typeof memberSchema>

export const roomSummarySchema = z.object({
  room_id: z.string(),
  kind: z.enum(['direct', 'group']),
  name: z.string().nullish(),
  topic: z.string().nullish(),
  members: z.array(memberSchema),
  my_role: roleSchema,
  last_event: roomEventSchema.nullish(),
  unread_count: z.number().int(),
  read_seq: z.number().int(),
})
export type RoomSummary = z.infer<typeof roomSummarySchema>

const roomListSchema = z.object({ rooms: z.array(roomSummarySchema) })

/**
 * One of this device's sends into a room of another server that the room's server has not
 * confirmed yet (queued on ours), as sent: `content` is normally the `m.room.encrypted` content.
 */
const pendingEventSchema = z.object({
  txn_id: z.string(),
  type: z.string(),
  content: z.record(z.string(), z.unknown()),
  queued_at: z.number().int(),
}) satisfies z.ZodType<
  // The generated type says nothing about the content's fields.
  Omit<ApiSchemas['PendingEvent'], 'content'> & { content: Record<string, unknown> }
>
export type PendingSend = z.infer<typeof pendingEventSchema>

const historySchema = z.object({
  events: z.array(roomEventSchema),
  next_before: z.number().int().nullish(),
  /** Only on the newest page (no `before`); absent when there are none. */
  pending: z.array(pendingEventSchema).nullish(),
})

const sendResponseSchema = z.object({
  event_id: z.string(),
  seq: z.number().int(),
}) satisfies z.ZodType<ApiSchemas['SendResponse']>

/**
 * The 202 answer: the room's owning server is another one that has not confirmed the event
 * yet; ours keeps it queued and reports the outcome over the WebSocket (`sent` or `error`).
 */
const sendPendingSchema = z.object({
  pending: z.literal(true),
  txn_id: z.string(),
}) satisfies z.ZodType<ApiSchemas['PendingSendResponse']>

/** What became of a send: stored in the room, or queued on our server for the room's server. */
export type SendOutcome = { status: 'stored'; eventId: string; seq: number } | { status: 'pending' }

const sendOutcomeSchema = z
  .union([sendResponseSchema, sendPendingSchema])
  .transform((body): SendOutcome =>
    'pending' in body
      ? { status: 'pending' }
      : { status: 'stored', eventId: body.event_id, seq: body.seq },
  )

/** A room's loaded timeline: events by ascending seq, and where older history continues. */
export interface Timeline {
  events: RoomEvent[]
  /** `before` for the next older page; `null` once the start of the room is loaded. */
  nextBefore: number | null
  /**
   * This device's sends in the room still waiting for the room's server, as of the last load of
   * the newest page (oldest first), and when that load was asked for. The outbox adopts them.
   */
  pending?: PendingSnapshot
}

/** The pending sends listed by one load of a room's newest page. */
export interface PendingSnapshot {
  sends: PendingSend[]
  /** `Date.now()` just before the page was requested. */
  requestedAt: number
}

export const roomKeys = {
  all: [...userQueryKey, 'rooms'] as const,
  list: () => [...userQueryKey, 'rooms', 'list'] as const,
  timeline: (roomId: string) => [...userQueryKey, 'rooms', 'timeline', roomId] as const,
}

export const HISTORY_PAGE = 50

const enc = encodeURIComponent

/** The room list query, for `useQuery` and for code outside components. */
export function roomsQuery(session: AuthSession) {
  return {
    queryKey: roomKeys.list(),
    queryFn: async ({ signal }: { signal?: AbortSignal }) => {
      const data = await session.request('/rooms', {
        schema: roomListSchema,
        ...(signal === undefined ? {} : { signal }),
      })
      return sortRooms(data.rooms)
    },
    staleTime: Infinity,
  }
}

export function useRooms() {
  const session = useAuthSession()
  return useQuery({
    ...roomsQuery(session),
    meta: { errorToast: 'Could not load your conversations' },
  })
}

/** Most recently active first; rooms without events by nothing in particular. */
export function sortRooms(rooms: RoomSummary[]): RoomSummary[] {
  return [...rooms].sort(
    (a, b) => (b.last_event?.origin_server_ts ?? 0) - (a.last_event?.origin_server_ts ?? 0),
  )
}

/** Merge events into a timeline: sorted by seq, one copy of each. */
export function mergeEvents(existing: readonly RoomEvent[], incoming: readonly RoomEvent[]) {
  const bySeq = new Map<number, RoomEvent>()
  for (const event of existing) bySeq.set(event.seq, event)
  for (const event of incoming) bySeq.set(event.seq, event)
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}

export function useTimeline(roomId: string) {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useQuery({
    queryKey: roomKeys.timeline(roomId),
    queryFn: async ({ signal }): Promise<Timeline> => {
      const requestedAt = Date.now()
      const page = await session.request(
        `/rooms/${enc(roomId)}/events?limit=${String(HISTORY_PAGE)}`,
        {
          schema: historySchema,
          signal,
        },
      )
      // Live events may have arrived while this page was on its way: keep them.
      const current = queryClient.getQueryData<Timeline>(roomKeys.timeline(roomId))
      return {
        events: mergeEvents(current?.events ?? [], page.events),
        nextBefore: page.next_before ?? null,
        pending: { sends: page.pending ?? [], requestedAt },
      }
    },
    staleTime: Infinity,
    meta: { errorToast: 'Could not load the conversation' },
  })
}

/** Load the page before the oldest loaded event into the timeline's cache. */
export async function loadOlder(
  session: AuthSession,
  queryClient: QueryClient,
  roomId: string,
): Promise<void> {
  const key = roomKeys.timeline(roomId)
  const current = queryClient.getQueryData<Timeline>(key)
  if (current === undefined) return
  if (current.nextBefore === null) return
  const page = await session.request(
    `/rooms/${enc(roomId)}/events?before=${String(current.nextBefore)}&limit=${String(HISTORY_PAGE)}`,
    { schema: historySchema },
  )
  queryClient.setQueryData<Timeline>(key, (latest) => ({
    ...latest,
    events: mergeEvents(latest?.events ?? [], page.events),
    nextBefore: page.next_before ?? null,
  }))
}

export function sendEvent(
  session: AuthSession,
  roomId: string,
  eventType: string,
  txnId: string,
  content: Record<string, unknown>,
): Promise<SendOutcome> {
  return session.request(`/rooms/${enc(roomId)}/send/${enc(eventType)}/${enc(txnId)}`, {
    method: 'PUT',
    body: content,
    schema: sendOutcomeSchema,
  })
}

/** `GET /rooms/{room_id}`: the room as the server has it now (its current members). */
export function getRoom(session: AuthSession, roomId: string) {
  return session.request(`/rooms/${enc(roomId)}`, { schema: roomSummarySchema })
}

export function markRead(session: AuthSession, roomId: string, seq: number) {
  const body: ApiSchemas['ReadMarkerRequest'] = { seq }
  return session.request(`/rooms/${enc(roomId)}/read`, {
    method: 'POST',
    body,
    schema: z.unknown(),
  })
}

export function useCreateRoom() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (body: ApiSchemas['CreateRoomRequest']) =>
      session.request('/rooms', { method: 'POST', body, schema: roomSummarySchema }),
    onSuccess: (room) => {
      queryClient.setQueryData<RoomSummary[]>(roomKeys.list(), (rooms) =>
        rooms === undefined
          ? rooms
          : sortRooms([room, ...rooms.filter((r) => r.room_id !== room.room_id)]),
      )
      void queryClient.invalidateQueries({ queryKey: roomKeys.list() })
    },
  })
}
