import { createContext, use } from 'react'

import type { OutboxStore } from '@/features/chat/model/outbox-store'
import type { TypingStore } from '@/features/chat/model/typing-store'
import type { RealtimeClient } from '@/lib/realtime/realtime-client'

export interface ChatRealtime {
  client: RealtimeClient
  typing: TypingStore
  outbox: OutboxStore
  /** The room on screen (and visible), whose new messages count as read. */
  setActiveRoom: (roomId: string | undefined) => void
}

export const ChatRealtimeContext = createContext<ChatRealtime | null>(null)

/** The realtime connection of the signed-in user; `null` until it is set up (or signed out). */
export function useChatRealtime(): ChatRealtime | null {
  return use(ChatRealtimeContext)
}
