/** Response schemas that several features share. */
import * as z from 'zod'

import type { ApiSchemas } from '@/lib/api/types'

/**
 * `Accepted`: the answer to requests that must not reveal whether an account exists (sign-up,
 * resend, forgot password) and to a few others that only confirm.
 */
export const acceptedSchema = z.object({
  accepted: z.boolean(),
}) satisfies z.ZodType<ApiSchemas['Accepted']>

/** `EndedSessions`: how many sessions a request ended. */
export const endedSessionsSchema = z.object({
  ended: z.number().int().nonnegative(),
}) satisfies z.ZodType<ApiSchemas['EndedSessions']>
