import { useMutation } from '@tanstack/react-query'

import { apiClient } from '@/lib/api-client'
import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'

/**
 * `POST /api/v1/account/password/forgot`: mails a reset link if the address belongs to an
 * account. Always 202.
 */
export function forgotPassword(body: ApiSchemas['EmailRequest']) {
  return apiClient.post('/account/password/forgot', body, acceptedSchema)
}

export function useForgotPassword() {
  return useMutation({ mutationFn: forgotPassword })
}
