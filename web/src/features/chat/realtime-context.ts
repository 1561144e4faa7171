import { createContext, use } from 'react'

import type { DecryptionStore } from '@/features/chat/model/decryption-store'
import type { DeviceNoticeStore } from '@/features/chat/model/device-notices'
import type { VerificationStore } from '@/features/chat/model/verification-store'
import type { OutboxStore } from '@/features/chat/model/outbox-store'
import type { TypingStore } from '@/features/chat/model/typing-store'
import type { E2eeClient } from '@/lib/crypto/e2ee-client'
import type { RealtimeClient } from '@/lib/realtime/realtime-client'

export interface ChatRealtime {
  client: RealtimeClient
  typing: TypingStore
  outbox: OutboxStore
  decryption: DecryptionStore
  notices: DeviceNoticeStore
  /** The room on screen (and visible), whose new messages count as read. */
  setActiveRoom: (roomId: string | undefined) => void
}

export const ChatRealtimeContext = createContext<ChatRealtime | null>(null)

/** The realtime connection of the signed-in user; `null` until it is set up (or signed out). */
export function useChatRealtime(): ChatRealtime | null {
  return use(ChatRealtimeContext)
}

/**
 * This user's cross-signing on this device:
 * - `checking`: asking the server;
 * - `ready`: this device holds the keys and vouches for the user's devices and verified users;
 * - `needs-password`: nobody set it up yet and the server wants the password to let us;
 * - `needs-verification`: another device set it up: verify this one with it to join in.
 */
export type CrossSigningState = 'checking' | 'ready' | 'needs-password' | 'needs-verification'

/** The state of this device's end-to-end encryption. */
export type E2eeState =
  | { status: 'opening' }
  | {
      status: 'ready'
      client: E2eeClient
      crossSigning: CrossSigningState
      verification: VerificationStore
      /** Set up cross-signing with the account password (when the server asks for it). */
      setUpCrossSigning: (password: string) => Promise<void>
    }
  | { status: 'failed'; error: string }

export const E2eeContext = createContext<E2eeState>({ status: 'opening' })

export function useE2ee(): E2eeState {
  return use(E2eeContext)
}
