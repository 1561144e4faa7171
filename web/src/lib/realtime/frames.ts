/**
 * The frames of the client API's WebSocket (`/api/v1/ws`), as zod schemas: every frame the
 * server sends is validated before the app sees it, and an unknown or malformed one is dropped.
 */
import * as z from 'zod'

/** One event of a room's timeline (`Event`). The content stays opaque JSON here. */
export const roomEventSchema = z.object({
  event_id: z.string(),
  room_id: z.string(),
  sender: z.string(),
  type: z.string(),
  seq: z.number().int(),
  origin_server_ts: z.number(),
  content: z.record(z.string(), z.unknown()),
  device_id: z.string().nullish(),
})

export type RoomEvent = z.infer<typeof roomEventSchema>

export const serverFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('event'), stream_pos: z.number().int(), event: roomEventSchema }),
  z.object({ type: z.literal('live'), stream_pos: z.number().int() }),
  z.object({
    type: z.literal('typing'),
    room_id: z.string(),
    user_id: z.string(),
    typing: z.boolean(),
  }),
  z.object({
    type: z.literal('receipt'),
    room_id: z.string(),
    user_id: z.string(),
    delivered_seq: z.number().int(),
    read_seq: z.number().int(),
  }),
  z.object({
    type: z.literal('presence'),
    user_id: z.string(),
    online: z.boolean(),
    last_seen_at: z.number().nullish(),
  }),
  z.object({
    type: z.literal('sent'),
    txn_id: z.string(),
    event_id: z.string(),
    seq: z.number().int(),
  }),
  z.object({
    type: z.literal('to_device'),
    events: z.array(
      z.object({
        id: z.number().int(),
        type: z.string(),
        sender: z.string(),
        content: z.record(z.string(), z.unknown()),
      }),
    ),
  }),
  z.object({
    type: z.literal('device_lists'),
    stream_pos: z.number().int(),
    changed: z.array(z.string()),
    left: z.array(z.string()),
  }),
  z.object({
    type: z.literal('key_counts'),
    one_time_key_counts: z.record(z.string(), z.number().int()),
    unused_fallback_key_types: z.array(z.string()),
  }),
  z.object({
    type: z.literal('error'),
    txn_id: z.string().nullish(),
    errcode: z.string(),
    error: z.string(),
  }),
])

export type ServerFrame = z.infer<typeof serverFrameSchema>

export type ClientFrame =
  | {
      type: 'send'
      room_id: string
      event_type: string
      txn_id: string
      content: Record<string, unknown>
    }
  | { type: 'typing'; room_id: string; typing: boolean }
  | { type: 'delivered'; room_id: string; seq: number }
  | { type: 'read'; room_id: string; seq: number }
  /** The to-device messages up to this id are stored by the crypto machine: delete them. */
  | { type: 'to_device_ack'; up_to_id: number }

/** Parse one text frame; `undefined` for anything that is not a frame this client knows. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return undefined
  }
  const result = serverFrameSchema.safeParse(data)
  return result.success ? result.data : undefined
}
