import { queryOptions, useQuery } from '@tanstack/react-query'
import * as z from 'zod'

import { apiClient } from '@/lib/api-client'

/** `GET /api/v1/server`: public facts about this homeserver. Extra fields are ignored. */
export const serverInfoSchema = z
  .object({
    server_name: z.string().min(1),
    version: z.string().min(1),
  })
  .transform(({ server_name, version }) => ({ serverName: server_name, version }))

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
