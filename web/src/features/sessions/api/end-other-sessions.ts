import { useMutation, useQueryClient } from '@tanstack/react-query'

import { sessionsQueryKey } from '@/features/sessions/api/get-sessions'
import { endedSessionsSchema } from '@/lib/api/schemas'
import type { AuthSession } from '@/lib/auth/auth-session'
import { useAuthSession } from '@/lib/auth/use-auth'

/** `POST /api/v1/auth/sessions/end-others`: signs out everywhere but here. */
export function endOtherSessions(session: AuthSession) {
  return session.request('/auth/sessions/end-others', {
    method: 'POST',
    schema: endedSessionsSchema,
  })
}

export function useEndOtherSessions() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: () => endOtherSessions(session),
    onSettled: () => queryClient.invalidateQueries({ queryKey: sessionsQueryKey }),
  })
}
