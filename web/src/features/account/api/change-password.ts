import { useMutation, useQueryClient } from '@tanstack/react-query'

import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthSession } from '@/lib/auth/use-auth'

/**
 * `POST /api/v1/account/password`: changes the password after checking the current one. Every
 * other session of the account ends; this one stays.
 */
export function changePassword(session: AuthSession, body: ApiSchemas['ChangePasswordRequest']) {
  return session.request('/account/password', { method: 'POST', body, schema: acceptedSchema })
}

export function useChangePassword() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (body: ApiSchemas['ChangePasswordRequest']) => changePassword(session, body),
    // The session list has shrunk to this session.
    onSuccess: () => queryClient.invalidateQueries({ queryKey: userQueryKey }),
  })
}
