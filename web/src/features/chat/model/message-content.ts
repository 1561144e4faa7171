/**
 * How a message's text becomes event content and back. The plaintext content is `{body}` of
 * type `parley.message`; it never leaves the browser as such: it is encrypted into an
 * `m.room.encrypted` event (Megolm) before sending, and decrypted on arrival
 * (see `decryption-store.ts`).
 */
import type { RoomEvent } from '@/features/chat/api/rooms'

export const MESSAGE_EVENT_TYPE = 'parley.message'
export const ENCRYPTED_EVENT_TYPE = 'm.room.encrypted'

export function encodeMessage(text: string): Record<string, unknown> {
  return { body: text }
}

/** The text of a message event's content, or `undefined` when it cannot be shown. */
export function decodeMessage(content: Record<string, unknown>): string | undefined {
  return typeof content.body === 'string' ? content.body : undefined
}

/** A message, encrypted or (from before encryption) not. */
export function isMessageEvent(event: Pick<RoomEvent, 'type'>): boolean {
  return event.type === ENCRYPTED_EVENT_TYPE || event.type === MESSAGE_EVENT_TYPE
}
