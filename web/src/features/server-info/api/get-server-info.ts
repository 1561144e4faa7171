import { queryOptions, useQuery } from '@tanstack/react-query'
import * as z from 'zod'

import { apiClient } from '@/lib/api-client'
import type { ApiSchemas } from '@/lib/api/types'

/** `ServerInfo` as sent. Extra fields are ignored. */
const serverInfoBodySchema = z.object({
  server_name: z.string().min(1),
  version: z.string().min(1),
}) satisfies z.ZodType<ApiSchemas['ServerInfo']>

/** `GET /api/v1/server`: public facts about this homeserver, in camelCase. */
export const serverInfoSchema = serverInfoBodySchema.transform(({ server_name, version }) => ({
  serverName: server_name,
  version,
}))

export type ServerInfo = z.output<typeof serverInfoSchema>

export function getServerInfo(options: { signal?: AbortSignal } = {}): Promise<ServerInfo> {
  return apiClient.get('/server', serverInfoSchema, options)
}

export const serverInfoQueryKey = ['server-info'] as const

export function serverInfoQueryOptions() {
  return queryOptions({
    queryKey: serverInfoQueryKey,
    queryFn: ({ signal }) => getServerInfo({ signal }),
    // A server's name never changes and its version only on upgrade.
    staleTime: 5 * 60_000,
    meta: { errorToast: 'Could not load server information' },
  })
}

/** This homeserver's name and version. Shared by every component that asks, fetched once. */
export function useServerInfo() {
  return useQuery(serverInfoQueryOptions())
}
