import { useMutation, useQueryClient } from '@tanstack/react-query'

import { sessionsQueryKey } from '@/features/sessions/api/get-sessions'
import { endedSessionsSchema } from '@/lib/api/schemas'
import type { AuthSession } from '@/lib/auth/auth-session'
import { useAuthSession } from '@/lib/auth/use-auth'

/** `DELETE /api/v1/auth/sessions/{session_id}`: signs another device out. */
export function endSession(session: AuthSession, sessionId: string) {
  return session.request(`/auth/sessions/${encodeURIComponent(sessionId)}`, {
    method: 'DELETE',
    schema: endedSessionsSchema,
  })
}

export function useEndSession() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (sessionId: string) => endSession(session, sessionId),
    // Also after a 404: the session is gone either way, and the list should say so.
    onSettled: () => queryClient.invalidateQueries({ queryKey: sessionsQueryKey }),
  })
}
