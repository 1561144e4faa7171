import { useMutation } from '@tanstack/react-query'
import * as z from 'zod'

import { apiClient } from '@/lib/api-client'
import type { ApiSchemas } from '@/lib/api/types'

/** `VerifyEmailResponse`: whose address was confirmed, and which address. */
export const verifyEmailResponseSchema = z.object({
  user_id: z.string().min(1),
  email: z.string().min(1),
}) satisfies z.ZodType<ApiSchemas['VerifyEmailResponse']>

export type VerifiedEmail = z.output<typeof verifyEmailResponseSchema>

/**
 * `POST /api/v1/account/verify-email`: uses the token of an emailed link (sign-up or change of
 * address). A token works once; `401 M_UNKNOWN_TOKEN` if invalid, used or expired.
 */
export function verifyEmail(body: ApiSchemas['VerifyEmailRequest']): Promise<VerifiedEmail> {
  return apiClient.post('/account/verify-email', body, verifyEmailResponseSchema)
}

export function useVerifyEmail() {
  return useMutation({ mutationFn: verifyEmail })
}
