import type { RoomSummary } from '@/features/chat/api/rooms'
import { userLabel } from '@/lib/ids'

/** The other person of a direct room, if they are still in it. */
export function otherMember(room: RoomSummary, me: string) {
  return room.members.find((m) => m.user_id !== me)
}

/** What a room is called in the list and its header, as plain text. */
export function roomName(room: RoomSummary, me: string): string {
  if (room.kind === 'group') return room.name ?? 'Unnamed group'
  const other = otherMember(room, me)
  return other ? userLabel(other.user_id, me) : 'Direct chat'
}
