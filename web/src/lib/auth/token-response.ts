import * as z from 'zod'

import type { ApiSchemas } from '@/lib/api/types'

/**
 * `TokenResponse`: what sign-in and refresh answer. The refresh token is not in it: for
 * browsers the server sets it as an HttpOnly cookie.
 */
export const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().int().nonnegative(),
  user_id: z.string().min(1),
  device_id: z.string().min(1),
  session_id: z.string().min(1),
}) satisfies z.ZodType<ApiSchemas['TokenResponse']>

export type TokenResponse = z.output<typeof tokenResponseSchema>
