import { MessagesSquare } from 'lucide-react'

import { ChatView } from '@/features/chat/components/chat-view'
import { ConnectionBanner } from '@/features/chat/components/connection-banner'
import { ConversationList } from '@/features/chat/components/conversation-list'
import { cn } from '@/lib/utils'

/**
 * The conversation list beside the open conversation; on a phone, one or the other.
 */
export function ChatsScreen({ me, roomId }: { me: string; roomId: string | undefined }) {
  const open = roomId !== undefined
  return (
    <div className="flex h-[calc(100dvh-12rem)] min-h-[28rem] w-full max-w-5xl flex-col overflow-hidden rounded-xl border bg-card shadow-sm">
      <ConnectionBanner />
      <div className="flex min-h-0 flex-1">
        <div
          className={cn(
            'min-h-0 w-full flex-col md:flex md:w-80 md:shrink-0 md:border-r',
            open ? 'hidden' : 'flex',
          )}
        >
          <ConversationList me={me} />
        </div>
        <div className={cn('min-h-0 flex-1 flex-col md:flex', open ? 'flex' : 'hidden')}>
          {open ? (
            <ChatView roomId={roomId} me={me} />
          ) : (
            <div className="grid flex-1 place-items-center p-8 text-center text-muted-foreground">
              <div className="grid justify-items-center gap-2">
                <MessagesSquare className="size-10" aria-hidden="true" />
                <p>Choose a conversation, or start a new one.</p>
              </div>
            </div>
          )}
        </div>
      </div>
    </div>
  )
}
