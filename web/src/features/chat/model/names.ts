import type { RoomSummary } from '@/features/chat/api/rooms'

/** `@alice:example.org` → `alice`. */
export function localpart(userId: string): string {
  return /^@([^:]+):/.exec(userId)?.[1] ?? userId
}

/** The other person of a direct room, if they are still in it. */
export function otherMember(room: RoomSummary, me: string) {
  return room.members.find((m) => m.user_id !== me)
}

/** What a room is called in the list and its header. */
export function roomName(room: RoomSummary, me: string): string {
  if (room.kind === 'group') return room.name ?? 'Unnamed group'
  return otherMember(room, me)?.user_id ?? 'Direct chat'
}

/** A plausible user address: `@name:server`. */
export function isUserId(value: string): boolean {
  return /^@[^:\s]+:[^\s]+$/.test(value)
}
