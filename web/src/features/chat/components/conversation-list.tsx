import { MessageSquarePlus, Users } from 'lucide-react'
import { useEffect, useState, useSyncExternalStore } from 'react'
import { NavLink } from 'react-router'

import { Button } from '@/components/ui/button'
import { Skeleton } from '@/components/ui/skeleton'
import { useRooms, type RoomSummary } from '@/features/chat/api/rooms'
import { previewText } from '@/features/chat/model/event-text'
import { otherMember, roomName } from '@/features/chat/model/names'
import { UserName } from '@/features/chat/components/user-name'
import { NewChatDialog, NewGroupDialog } from '@/features/chat/components/new-chat-dialogs'
import { isMessageEvent } from '@/features/chat/model/message-content'
import { chatPath } from '@/features/chat/paths'
import { useChatRealtime } from '@/features/chat/realtime-context'
import { localpart, userLabel } from '@/lib/ids'
import { cn } from '@/lib/utils'

const subscribeNothing = () => () => undefined
const zero = () => 0

/** The signed-in user's conversations, most recently active first. */
export function ConversationList({ me }: { me: string }) {
  const rooms = useRooms()
  const [dialog, setDialog] = useState<'chat' | 'group' | null>(null)
  const close = () => {
    setDialog(null)
  }

  return (
    <section aria-labelledby="conversations-heading" className="flex min-h-0 flex-1 flex-col">
      <div className="flex items-center justify-between gap-2 border-b p-3">
        <h1 id="conversations-heading" className="text-lg font-semibold">
          Chats
        </h1>
        <div className="flex gap-1">
          <Button
            size="sm"
            variant="outline"
            onClick={() => {
              setDialog('chat')
            }}
          >
            <MessageSquarePlus />
            New chat
          </Button>
          <Button
            size="sm"
            variant="outline"
            onClick={() => {
              setDialog('group')
            }}
          >
            <Users />
            New group
          </Button>
        </div>
      </div>
      {rooms.isPending ? (
        <div className="grid gap-2 p-3" role="status" aria-label="Loading conversations">
          <Skeleton className="h-14" />
          <Skeleton className="h-14" />
        </div>
      ) : rooms.isError ? (
        <div className="grid gap-2 p-4 text-sm" role="alert">
          <p>Could not load your conversations.</p>
          <Button
            size="sm"
            variant="outline"
            onClick={() => {
              void rooms.refetch()
            }}
          >
            Retry
          </Button>
        </div>
      ) : rooms.data.length === 0 ? (
        <p className="p-4 text-sm text-muted-foreground">
          No conversations yet. Start one with “New chat”.
        </p>
      ) : (
        <nav aria-label="Conversations" className="min-h-0 flex-1 overflow-y-auto">
          <ul className="grid">
            {rooms.data.map((room) => (
              <li key={room.room_id}>
                <ConversationItem room={room} me={me} />
              </li>
            ))}
          </ul>
        </nav>
      )}
      <NewChatDialog open={dialog === 'chat'} onClose={close} me={me} />
      <NewGroupDialog open={dialog === 'group'} onClose={close} me={me} />
    </section>
  )
}

function ConversationItem({ room, me }: { room: RoomSummary; me: string }) {
  const name = roomName(room, me)
  const other = room.kind === 'direct' ? otherMember(room, me) : undefined
  const lastEvent = room.last_event ?? undefined
  const decryption = useChatRealtime()?.decryption
  useSyncExternalStore(decryption?.subscribe ?? subscribeNothing, decryption?.getVersion ?? zero)
  useEffect(() => {
    if (lastEvent) decryption?.request([lastEvent])
  }, [decryption, lastEvent])
  const preview = lastEvent
    ? previewText(lastEvent, decryption?.view(lastEvent), (userId) => userLabel(userId, me))
    : 'No messages yet'
  const fromMe = lastEvent?.sender === me && isMessageEvent(lastEvent)
  const unread = room.unread_count
  return (
    <NavLink
      to={chatPath(room.room_id)}
      data-testid="conversation"
      className={({ isActive }) =>
        cn(
          'flex items-center gap-3 border-b px-3 py-2.5 outline-none hover:bg-accent focus-visible:ring-[3px] focus-visible:ring-ring/50 focus-visible:ring-inset',
          isActive && 'bg-accent',
        )
      }
    >
      <span className="relative shrink-0" aria-hidden="true">
        <span className="flex size-10 items-center justify-center rounded-full bg-primary/15 font-semibold text-primary uppercase">
          {(other ? localpart(other.user_id) : name).slice(0, 1)}
        </span>
        {other && (
          <span
            className={cn(
              'absolute right-0 bottom-0 size-3 rounded-full border-2 border-card',
              other.online ? 'bg-success' : 'bg-muted-foreground/50',
            )}
          />
        )}
      </span>
      <span className="grid min-w-0 flex-1">
        <span className="truncate font-medium">
          {other ? <UserName userId={other.user_id} me={me} /> : name}
        </span>
        <span className="truncate text-sm text-muted-foreground">
          {fromMe ? `You: ${preview}` : preview}
        </span>
      </span>
      {other && <span className="sr-only">{other.online ? 'online' : 'offline'}</span>}
      {unread > 0 && (
        <span
          className="rounded-full bg-primary px-2 py-0.5 text-xs font-semibold text-primary-foreground"
          data-testid="unread-badge"
        >
          {unread}
          <span className="sr-only"> unread</span>
        </span>
      )}
    </NavLink>
  )
}
