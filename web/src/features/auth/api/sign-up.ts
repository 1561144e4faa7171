import { useMutation } from '@tanstack/react-query'

import { apiClient } from '@/lib/api-client'
import { acceptedSchema } from '@/lib/api/schemas'
import type { ApiSchemas } from '@/lib/api/types'

export type SignUpInput = ApiSchemas['RegisterRequest']

/**
 * `POST /api/v1/account/register`: creates an unverified account and mails a link to confirm the
 * address. 202 whether or not the address was already in use (its owner gets a notice instead).
 */
export function signUp(input: SignUpInput) {
  return apiClient.post('/account/register', input, acceptedSchema)
}

export function useSignUp() {
  return useMutation({ mutationFn: signUp })
}
