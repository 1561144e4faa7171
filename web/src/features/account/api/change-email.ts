import { useMutation } from '@tanstack/react-query'

import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { useAuthSession } from '@/lib/auth/use-auth'

/**
 * `POST /api/v1/account/email`: starts a change of address (the password re-authenticates).
 * 202: the new address gets a link; the change happens when it is opened.
 */
export function changeEmail(session: AuthSession, body: ApiSchemas['ChangeEmailRequest']) {
  return session.request('/account/email', { method: 'POST', body, schema: acceptedSchema })
}

export function useChangeEmail() {
  const session = useAuthSession()
  return useMutation({
    mutationFn: (body: ApiSchemas['ChangeEmailRequest']) => changeEmail(session, body),
  })
}
