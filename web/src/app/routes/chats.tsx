import { useParams } from 'react-router'

import { RequireAuth } from '@/features/auth/components/require-auth'
import { ChatsScreen } from '@/features/chat/components/chats-screen'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'
import { useAuthState } from '@/lib/auth/use-auth'

export function ChatsRoute() {
  useServerPageTitle('Chats')
  const { roomId } = useParams()
  const state = useAuthState()
  return (
    <RequireAuth>
      {state.status === 'signed-in' && <ChatsScreen me={state.user.userId} roomId={roomId} />}
    </RequireAuth>
  )
}
