import { toast } from 'sonner'
import { describe, expect, it, vi } from 'vitest'

import { ApiError } from '@/lib/api-client'
import { createQueryClient } from '@/lib/query-client'

function failingQuery(error: Error) {
  const client = createQueryClient({ defaultOptions: { queries: { retry: false } } })
  return client
    .query({
      queryKey: ['thing'],
      queryFn: () => Promise.reject(error),
      meta: { errorToast: 'Could not load the thing' },
    })
    .catch(() => undefined)
}

describe('createQueryClient', () => {
  it('shows a toast when a query with errorToast fails', async () => {
    const errorToast = vi.spyOn(toast, 'error')

    await failingQuery(new ApiError({ status: 500, errcode: 'M_UNKNOWN', message: 'Boom' }))

    expect(errorToast).toHaveBeenCalledWith('Could not load the thing', {
      id: expect.any(String) as unknown,
      description: 'Boom (M_UNKNOWN, HTTP 500)',
    })
  })

  it('leaves 401s to the session, which says the session ended', async () => {
    const errorToast = vi.spyOn(toast, 'error')

    await failingQuery(
      new ApiError({ status: 401, errcode: 'M_UNKNOWN_TOKEN', message: 'Token expired.' }),
    )

    expect(errorToast).not.toHaveBeenCalled()
  })
})
