import { queryOptions, useQuery } from '@tanstack/react-query'
import * as z from 'zod'

import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthSession } from '@/lib/auth/use-auth'

/** `MyProfile`: the signed-in user's own profile. */
export const myProfileSchema = z.object({
  user_id: z.string().min(1),
  email: z.string().min(1),
  full_name: z.string(),
  // Sent as null when unset; tolerate a server that leaves it out.
  display_name: z.string().nullable().default(null),
  created_at: z.string(),
}) satisfies z.ZodType<ApiSchemas['MyProfile']>

export type MyProfile = z.output<typeof myProfileSchema>

export const profileQueryKey = [...userQueryKey, 'profile'] as const

/** `GET /api/v1/account/profile`. */
export function getProfile(
  session: AuthSession,
  options: { signal?: AbortSignal } = {},
): Promise<MyProfile> {
  return session.request('/account/profile', { schema: myProfileSchema, ...options })
}

export function profileQueryOptions(session: AuthSession) {
  return queryOptions({
    queryKey: profileQueryKey,
    queryFn: ({ signal }) => getProfile(session, { signal }),
    meta: { errorToast: 'Could not load your profile' },
  })
}

export function useProfile() {
  return useQuery(profileQueryOptions(useAuthSession()))
}
