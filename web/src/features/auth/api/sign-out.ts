import { useMutation } from '@tanstack/react-query'
import { toast } from 'sonner'

import { ApiError } from '@/lib/api-client'
import { endedSessionsSchema } from '@/lib/api/schemas'
import type { AuthSession } from '@/lib/auth/auth-session'
import { useAuthSession } from '@/lib/auth/use-auth'

/**
 * `POST /api/v1/auth/logout`: ends this session on the server, which also clears the refresh
 * cookie; then forgets it here. A session the server no longer knows counts as signed out.
 */
export async function signOut(session: AuthSession): Promise<void> {
  try {
    await session.request('/auth/logout', { method: 'POST', schema: endedSessionsSchema })
  } catch (error) {
    // 401: already over. Anything else (offline) leaves the session as it was, to retry.
    if (!(error instanceof ApiError && error.status === 401)) throw error
  }
  session.end('signed-out')
}

export function useSignOut() {
  const session = useAuthSession()
  return useMutation({
    mutationFn: () => signOut(session),
    // Here rather than at the call site: the menu that started it is gone by then.
    onSuccess: () => {
      toast('You have signed out', { id: 'signed-out' })
    },
  })
}
