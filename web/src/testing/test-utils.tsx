import { render } from '@testing-library/react'
import { createMemoryRouter, RouterProvider } from 'react-router'
import { vi, type Mock } from 'vitest'

import { AppProvider } from '@/app/provider'
import { routes } from '@/app/routes'
import { createQueryClient } from '@/lib/query-client'

/** A JSON response as the homeserver would send it. */
export function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers)
  headers.set('Content-Type', 'application/json')
  return new Response(JSON.stringify(body), { status: 200, ...init, headers })
}

type FetchMock = Mock<typeof fetch>

/** Replace global fetch for this test; each call is answered by `handler`. */
export function mockFetch(
  handler: (url: string, init?: RequestInit) => Response | Promise<Response>,
): FetchMock {
  // async, so a handler that throws behaves like a fetch that rejects.
  const mock: FetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : input.toString()
    return handler(url, init)
  })
  vi.stubGlobal('fetch', mock)
  return mock
}

/** Render the whole app (providers, shell, routes) at `url`, with a fresh cache and no retries. */
export function renderApp(url = '/') {
  const queryClient = createQueryClient({ defaultOptions: { queries: { retry: false } } })
  const router = createMemoryRouter(routes, { initialEntries: [url] })
  const result = render(
    <AppProvider queryClient={queryClient}>
      <RouterProvider router={router} />
    </AppProvider>,
  )
  return { ...result, router, queryClient }
}
