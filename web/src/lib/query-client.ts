import { QueryCache, QueryClient, type QueryClientConfig } from '@tanstack/react-query'
import { toast } from 'sonner'

import { ApiError, isTransientFailure } from '@/lib/api-client'
import { describeApiFailure } from '@/lib/describe-api-failure'

declare module '@tanstack/react-query' {
  interface Register {
    queryMeta: {
      /**
       * If set, a failed fetch of this query shows an error toast with this title. The toast id
       * is derived from the query, so repeated failures replace one toast instead of piling up.
       */
      errorToast?: string
    }
  }
}

const MAX_RETRIES = 2

export function createQueryClient(config: QueryClientConfig = {}): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        const title = query.meta?.errorToast
        if (title === undefined) return
        // 401: the session is over, and the session's own handling says so (and moves on).
        if (error instanceof ApiError && error.status === 401) return
        toast.error(title, { id: query.queryHash, description: describeApiFailure(error).detail })
      },
    }),
    ...config,
    defaultOptions: {
      ...config.defaultOptions,
      queries: {
        staleTime: 60_000,
        // Only retry what may heal by itself; a 404 or a malformed answer will not.
        retry: (failureCount, error) => failureCount < MAX_RETRIES && isTransientFailure(error),
        retryDelay: (attempt, error) =>
          error instanceof ApiError && error.retryAfterMs !== undefined
            ? error.retryAfterMs
            : Math.min(1000 * 2 ** attempt, 10_000),
        ...config.defaultOptions?.queries,
      },
    },
  })
}
