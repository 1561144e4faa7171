import { QueryClientProvider } from '@tanstack/react-query'
import { renderHook, waitFor } from '@testing-library/react'
import type { ReactNode } from 'react'
import { describe, expect, it } from 'vitest'

import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { InvalidResponseError } from '@/lib/api-client'
import { createQueryClient } from '@/lib/query-client'
import { jsonResponse, mockFetch } from '@/testing/test-utils'

function wrapper({ children }: { children: ReactNode }) {
  const client = createQueryClient({ defaultOptions: { queries: { retry: false } } })
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>
}

describe('useServerInfo', () => {
  it('fetches GET /api/v1/server and exposes it in camelCase', async () => {
    const fetchMock = mockFetch(() =>
      jsonResponse({ server_name: 'org-b.example', version: '1.2.3', unknown_field: true }),
    )

    const { result } = renderHook(() => useServerInfo(), { wrapper })

    await waitFor(() => {
      expect(result.current.isSuccess).toBe(true)
    })
    expect(result.current.data).toEqual({ serverName: 'org-b.example', version: '1.2.3' })
    expect(fetchMock.mock.calls[0]?.[0]).toBe('/api/v1/server')
  })

  it('rejects an empty server name', async () => {
    mockFetch(() => jsonResponse({ server_name: '', version: '1.2.3' }))

    const { result } = renderHook(() => useServerInfo(), { wrapper })

    await waitFor(() => {
      expect(result.current.isError).toBe(true)
    })
    expect(result.current.error).toBeInstanceOf(InvalidResponseError)
  })
})
