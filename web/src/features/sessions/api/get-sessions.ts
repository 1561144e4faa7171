import { queryOptions, useQuery } from '@tanstack/react-query'
import * as z from 'zod'

import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthSession } from '@/lib/auth/use-auth'

/** `SessionInfo`: one live session of the signed-in user. */
export const sessionInfoSchema = z.object({
  session_id: z.string().min(1),
  device_id: z.string().min(1),
  device_name: z.string().nullable().default(null),
  created_at: z.string(),
  last_seen_at: z.string(),
  ip: z.string().nullable().default(null),
  user_agent: z.string().nullable().default(null),
  current: z.boolean(),
}) satisfies z.ZodType<ApiSchemas['SessionInfo']>

/** `SessionList`: newest first. */
export const sessionListSchema = z.object({
  sessions: z.array(sessionInfoSchema),
}) satisfies z.ZodType<ApiSchemas['SessionList']>

export type SessionInfo = z.output<typeof sessionInfoSchema>

export const sessionsQueryKey = [...userQueryKey, 'sessions'] as const

/** `GET /api/v1/auth/sessions`: the sessions, this one first, then newest first. */
export async function getSessions(
  session: AuthSession,
  options: { signal?: AbortSignal } = {},
): Promise<SessionInfo[]> {
  const { sessions } = await session.request('/auth/sessions', {
    schema: sessionListSchema,
    ...options,
  })
  // Stable sort: the server's order (newest first) is kept among the others.
  return sessions.toSorted((a, b) => Number(b.current) - Number(a.current))
}

export function sessionsQueryOptions(session: AuthSession) {
  return queryOptions({
    queryKey: sessionsQueryKey,
    queryFn: ({ signal }) => getSessions(session, { signal }),
    meta: { errorToast: 'Could not load your sessions' },
  })
}

export function useSessions() {
  return useQuery(sessionsQueryOptions(useAuthSession()))
}
