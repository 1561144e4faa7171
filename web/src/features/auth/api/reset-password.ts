import { useMutation } from '@tanstack/react-query'

import { apiClient } from '@/lib/api-client'
import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'
import { useAuthSession } from '@/lib/auth/use-auth'

/**
 * `POST /api/v1/account/password/reset`: sets a new password with a reset link's token. Every
 * session of the account ends, this browser's too if it was signed in to it.
 */
export function resetPassword(body: ApiSchemas['ResetPasswordRequest']) {
  return apiClient.post('/account/password/reset', body, acceptedSchema)
}

export function useResetPassword() {
  const session = useAuthSession()
  return useMutation({
    mutationFn: resetPassword,
    onSuccess: () => {
      // Whoever was signed in here may have been the account just reset; its session is gone
      // either way if so, and a quiet sign-out beats a "session ended" surprise later.
      if (session.getState().status === 'signed-in') session.end('signed-out')
    },
  })
}
