import { useSyncExternalStore } from 'react'

import { useChatRealtime } from '@/features/chat/realtime-context'
import type { ConnectionState } from '@/lib/realtime/realtime-client'

const subscribeNothing = () => () => undefined
const idle = (): ConnectionState => 'idle'

/** The state of the realtime connection, re-rendering when it changes. */
export function useConnectionState(): ConnectionState {
  const realtime = useChatRealtime()
  return useSyncExternalStore(
    realtime?.client.subscribe ?? subscribeNothing,
    realtime?.client.getState ?? idle,
  )
}
