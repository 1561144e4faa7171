import { createContext, use } from 'react'

import type { DecryptionStore } from '@/features/chat/model/decryption-store'
import type { OutboxStore } from '@/features/chat/model/outbox-store'
import type { TypingStore } from '@/features/chat/model/typing-store'
import type { E2eeClient } from '@/lib/crypto/e2ee-client'
import type { RealtimeClient } from '@/lib/realtime/realtime-client'

export interface ChatRealtime {
  client: RealtimeClient
  typing: TypingStore
  outbox: OutboxStore
  decryption: DecryptionStore
  /** The room on screen (and visible), whose new messages count as read. */
  setActiveRoom: (roomId: string | undefined) => void
}

export const ChatRealtimeContext = createContext<ChatRealtime | null>(null)

/** The realtime connection of the signed-in user; `null` until it is set up (or signed out). */
export function useChatRealtime(): ChatRealtime | null {
  return use(ChatRealtimeContext)
}

/** The state of this device's end-to-end encryption. */
export type E2eeState =
  | { status: 'opening' }
  | { status: 'ready'; client: E2eeClient }
  | { status: 'failed'; error: string }

export const E2eeContext = createContext<E2eeState>({ status: 'opening' })

export function useE2ee(): E2eeState {
  return use(E2eeContext)
}
