import type { RoomEvent } from '@/features/chat/api/rooms'
import type { MessageView } from '@/features/chat/model/decryption-store'
import { isMessageEvent } from '@/features/chat/model/message-content'

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** How a user reads in a line of text; see `userLabel` (remote users say their server). */
export type NameOf = (userId: string) => string

/**
 * A system line for an event about the room ("@x joined"), or `undefined` for messages.
 * `roles` holds the role of each member before this event (updated by the call), so that a
 * role change reads differently from a join.
 */
export function systemText(
  event: RoomEvent,
  roles: Map<string, string> = new Map<string, string>(),
  nameOf: NameOf = (userId) => userId,
): string | undefined {
  const c = event.content
  const sender = nameOf(event.sender)
  switch (event.type) {
    case 'parley.room.create':
      return `${sender} created the ${str(c.kind) === 'direct' ? 'conversation' : 'group'}`
    case 'parley.room.member': {
      const user = str(c.user_id) ?? event.sender
      const by = str(c.by) ?? event.sender
      const role = str(c.role) ?? 'member'
      const before = roles.get(user)
      if (str(c.membership) === 'leave') {
        roles.delete(user)
        return by !== user ? `${nameOf(user)} was removed by ${nameOf(by)}` : `${nameOf(user)} left`
      }
      roles.set(user, role)
      if (before === undefined) {
        return by !== user ? `${nameOf(user)} was added by ${nameOf(by)}` : `${nameOf(user)} joined`
      }
      return `${nameOf(user)} was made ${role}`
    }
    case 'parley.room.name':
      return `${sender} renamed the group to “${str(c.name) ?? ''}”`
    case 'parley.room.topic':
      return str(c.topic)
        ? `${sender} set the topic to “${str(c.topic) ?? ''}”`
        : `${sender} removed the topic`
    default:
      return isMessageEvent(event) ? undefined : `Unsupported event (${event.type})`
  }
}

/** A short preview of an event for the conversation list; `view` is a message's. */
export function previewText(event: RoomEvent, view?: MessageView, nameOf?: NameOf): string {
  if (isMessageEvent(event)) {
    switch (view?.kind) {
      case 'text':
        return view.text
      case 'undecryptable':
        return 'Unable to decrypt message'
      default:
        return 'Encrypted message'
    }
  }
  return systemText(event, undefined, nameOf) ?? 'Room updated'
}
