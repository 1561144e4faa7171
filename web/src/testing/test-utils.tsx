import { render } from '@testing-library/react'
import { StrictMode } from 'react'
import { createMemoryRouter, RouterProvider } from 'react-router'
import { vi, type Mock } from 'vitest'

import { AppProvider } from '@/app/provider'
import { routes } from '@/app/routes'
import type { AuthSession } from '@/lib/auth/auth-session'
import type { TokenResponse } from '@/lib/auth/token-response'
import { createQueryClient } from '@/lib/query-client'
import { testSession } from '@/testing/test-sessions'

export { restoringSession, testSession } from '@/testing/test-sessions'

/** A JSON response as the homeserver would send it. */
export function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers)
  headers.set('Content-Type', 'application/json')
  return new Response(JSON.stringify(body), { status: 200, ...init, headers })
}

/** An error response in the homeserver's `{errcode, error}` shape. */
export function errorResponse(
  status: number,
  errcode: string,
  error: string,
  extra: { retry_after_ms?: number } = {},
): Response {
  return jsonResponse({ errcode, error, ...extra }, { status })
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

export const testServerInfo = { server_name: 'org-a.example', version: '0.1.0' }

type ApiHandler = (request: {
  body: unknown
  init: RequestInit | undefined
}) => Response | Promise<Response>

/**
 * Answer API calls by `"METHOD /path"` under /api/v1, e.g. `'POST /auth/login'`. `GET /server`
 * answers with {@link testServerInfo} unless given; anything else is a 404 `M_UNRECOGNIZED`.
 */
export function mockApi(handlers: Record<string, ApiHandler>): FetchMock {
  const all: Record<string, ApiHandler> = {
    'GET /server': () => jsonResponse(testServerInfo),
    ...handlers,
  }
  return mockFetch((url, init) => {
    const path = url.replace(/^\/api\/v1/, '')
    const key = `${init?.method ?? 'GET'} ${path}`
    const handler = all[key]
    if (!handler) return errorResponse(404, 'M_UNRECOGNIZED', `No mock for ${key}`)
    const body: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined
    return handler({ body, init })
  })
}

/** The calls a fetch mock received for `"METHOD /path"`, with their JSON bodies and headers. */
export function callsTo(fetchMock: FetchMock, key: string) {
  return fetchMock.mock.calls
    .filter(([input, init]) => {
      const url = input instanceof Request ? input.url : input.toString()
      return `${init?.method ?? 'GET'} ${url.replace(/^\/api\/v1/, '')}` === key
    })
    .map(([, init]) => ({
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
      headers: new Headers(init?.headers),
    }))
}

export const testTokens: TokenResponse = {
  access_token: 'access-token-1',
  expires_in: 900,
  user_id: '@alice:org-a.example',
  device_id: 'DEVICEAAAA',
  session_id: '7d6c5b4a-0000-4000-8000-000000000001',
}

interface RenderAppOptions {
  /** Defaults to a signed-out session, so no refresh request is made. */
  session?: AuthSession
  /** Render inside <StrictMode>, as main.tsx does (effects run twice on mount). */
  strict?: boolean
  /** Router state of the initial entry. */
  state?: unknown
}

/** Render the whole app (providers, shell, routes) at `url`, with a fresh cache and no retries. */
export function renderApp(url = '/', options: RenderAppOptions = {}) {
  const queryClient = createQueryClient({ defaultOptions: { queries: { retry: false } } })
  const session = options.session ?? testSession()
  const router = createMemoryRouter(routes, {
    initialEntries: [options.state === undefined ? url : { pathname: url, state: options.state }],
  })
  const app = (
    <AppProvider queryClient={queryClient} authSession={session}>
      <RouterProvider router={router} />
    </AppProvider>
  )
  const result = render(options.strict ? <StrictMode>{app}</StrictMode> : app)
  return { ...result, router, queryClient, session }
}

/** jsdom has no modal dialogs: enough of them for the Dialog component. Call at module level. */
export function installDialogPolyfill(): void {
  Object.defineProperty(HTMLDialogElement.prototype, 'showModal', {
    configurable: true,
    value(this: HTMLDialogElement) {
      this.open = true
    },
  })
  Object.defineProperty(HTMLDialogElement.prototype, 'close', {
    configurable: true,
    value(this: HTMLDialogElement) {
      this.open = false
    },
  })
}
