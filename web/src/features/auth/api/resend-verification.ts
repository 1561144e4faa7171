import { useMutation } from '@tanstack/react-query'

import { apiClient } from '@/lib/api-client'
import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'

/**
 * `POST /api/v1/account/verify-email/resend`: mails a new link if the address belongs to an
 * unverified account (at most once a minute). Always 202: it says nothing about what it found.
 */
export function resendVerification(body: ApiSchemas['EmailRequest']) {
  return apiClient.post('/account/verify-email/resend', body, acceptedSchema)
}

export function useResendVerification() {
  return useMutation({ mutationFn: resendVerification })
}
