import { afterEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'

import { DEVICE_ID_STORAGE_KEY } from '@/config/auth'
import { ApiError, NetworkError } from '@/lib/api-client'
import { AuthSession, refreshDelayMs, type AuthEvent } from '@/lib/auth/auth-session'
import type { TokenResponse } from '@/lib/auth/token-response'
import { errorResponse, jsonResponse, mockFetch } from '@/testing/test-utils'

const okSchema = z.object({ ok: z.boolean() })

function tokens(n: number, overrides: Partial<TokenResponse> = {}): TokenResponse {
  return {
    access_token: `access-${String(n)}`,
    expires_in: 900,
    user_id: '@alice:org-a.example',
    device_id: 'DEVICEAAAA',
    session_id: 'session-1',
    ...overrides,
  }
}

/** A promise with its resolve function, to answer a request when the test says so. */
function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

const sessions: AuthSession[] = []

function signedIn(token = tokens(1)): AuthSession {
  const session = new AuthSession({ signedOut: true })
  session.start(token)
  sessions.push(session)
  return session
}

function restoring(): AuthSession {
  const session = new AuthSession()
  sessions.push(session)
  return session
}

function record(session: AuthSession): AuthEvent[] {
  const events: AuthEvent[] = []
  session.onEvent((event) => events.push(event))
  return events
}

function authorization(init: RequestInit | undefined): string | null {
  return new Headers(init?.headers).get('Authorization')
}

const isRefresh = (url: unknown) => url === '/api/v1/auth/refresh'

afterEach(() => {
  for (const session of sessions.splice(0)) session.dispose()
  vi.useRealTimers()
})

describe('AuthSession.restore', () => {
  it('restores a session from the refresh cookie', async () => {
    const fetchMock = mockFetch(() => jsonResponse(tokens(7)))
    const session = restoring()
    expect(session.getState()).toEqual({ status: 'restoring' })

    await session.restore()

    expect(session.getState()).toEqual({
      status: 'signed-in',
      user: { userId: '@alice:org-a.example', deviceId: 'DEVICEAAAA', sessionId: 'session-1' },
    })
    const [url, init] = fetchMock.mock.calls[0] ?? []
    expect(url).toBe('/api/v1/auth/refresh')
    expect(init?.method).toBe('POST')
    // The cookie carries the token: the body is empty, and no token is sent by script.
    expect(init?.body).toBe('{}')
    expect(init?.credentials).toBe('same-origin')
    expect(authorization(init)).toBeNull()
  })

  it('is signed out when there is no session to restore', async () => {
    mockFetch(() => errorResponse(401, 'M_MISSING_TOKEN', 'No refresh token: sign in.'))
    const session = restoring()
    const events = record(session)

    await session.restore()

    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'none' })
    expect(events).toEqual([{ type: 'signed-out', reason: 'none' }])
  })

  it('is signed out when the server cannot be reached', async () => {
    mockFetch(() => {
      throw new TypeError('Failed to fetch')
    })
    const session = restoring()

    await session.restore()

    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'none' })
  })

  it('sends one request however often it is called (StrictMode runs effects twice)', async () => {
    const fetchMock = mockFetch(() => jsonResponse(tokens(1)))
    const session = restoring()

    await Promise.all([session.restore(), session.restore(), session.restore()])
    await session.restore()

    expect(fetchMock).toHaveBeenCalledTimes(1)
  })
})

describe('AuthSession.start', () => {
  it('keeps the access token in memory only, and the device id in localStorage', () => {
    mockFetch(() => jsonResponse({ ok: true }))
    const session = signedIn(tokens(1, { access_token: 'secret-access-token' }))

    expect(localStorage.getItem(DEVICE_ID_STORAGE_KEY)).toBe('DEVICEAAAA')
    const stored = [
      ...Object.keys(localStorage).map((key) => localStorage.getItem(key)),
      ...Object.keys(sessionStorage).map((key) => sessionStorage.getItem(key)),
    ].join('\n')
    expect(stored).not.toContain('secret-access-token')
    expect(document.cookie).not.toContain('secret-access-token')
    expect(session.getState().status).toBe('signed-in')
  })

  it('tells listeners, and end() tells them the session is over', () => {
    const session = new AuthSession({ signedOut: true })
    sessions.push(session)
    const events = record(session)
    const changes = vi.fn()
    session.subscribe(changes)

    session.start(tokens(1))
    session.end('signed-out')
    session.end('signed-out') // already over: nothing more to say

    expect(events).toEqual([
      {
        type: 'signed-in',
        user: { userId: '@alice:org-a.example', deviceId: 'DEVICEAAAA', sessionId: 'session-1' },
      },
      { type: 'signed-out', reason: 'signed-out' },
    ])
    expect(changes).toHaveBeenCalledTimes(2)
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'signed-out' })
  })
})

describe('AuthSession.refresh', () => {
  it('is single-flight: concurrent callers share one request and its token', async () => {
    const answer = deferred<Response>()
    const fetchMock = mockFetch(() => answer.promise)
    const session = signedIn()

    const all = Promise.all([session.refresh(), session.refresh(), session.refresh()])
    answer.resolve(jsonResponse(tokens(2)))

    await expect(all).resolves.toEqual(['access-2', 'access-2', 'access-2'])
    expect(fetchMock).toHaveBeenCalledTimes(1)

    // Once settled, the next refresh is a new request.
    mockFetch(() => jsonResponse(tokens(3)))
    await expect(session.refresh()).resolves.toBe('access-3')
  })

  it('ends the session when the server refuses the refresh token', async () => {
    mockFetch(() => errorResponse(401, 'M_UNKNOWN_TOKEN', 'Session ended.'))
    const session = signedIn()
    const events = record(session)

    await expect(session.refresh()).resolves.toBeUndefined()

    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'ended' })
    expect(events).toEqual([{ type: 'signed-out', reason: 'ended' }])
  })

  it('keeps the session when there was no answer, and says so by rejecting', async () => {
    mockFetch(() => errorResponse(503, 'M_UNAVAILABLE', 'Database down'))
    const session = signedIn()

    await expect(session.refresh()).rejects.toBeInstanceOf(ApiError)
    expect(session.getState().status).toBe('signed-in')
  })

  it('drops an answer that arrives after the user signed out', async () => {
    const answer = deferred<Response>()
    mockFetch(() => answer.promise)
    const session = signedIn()

    const pending = session.refresh()
    session.end('signed-out')
    answer.resolve(jsonResponse(tokens(2)))

    await expect(pending).resolves.toBeUndefined()
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'signed-out' })
  })
})

describe('AuthSession.request', () => {
  it('sends the access token as a bearer token', async () => {
    const fetchMock = mockFetch(() => jsonResponse({ ok: true }))
    const session = signedIn(tokens(1))

    await expect(session.request('/things', { schema: okSchema })).resolves.toEqual({ ok: true })

    const [url, init] = fetchMock.mock.calls[0] ?? []
    expect(url).toBe('/api/v1/things')
    expect(authorization(init)).toBe('Bearer access-1')
  })

  it('refreshes once on 401 M_UNKNOWN_TOKEN and retries once with the new token', async () => {
    const fetchMock = mockFetch((url, init) => {
      if (isRefresh(url)) return jsonResponse(tokens(2))
      return authorization(init) === 'Bearer access-2'
        ? jsonResponse({ ok: true })
        : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.')
    })
    const session = signedIn(tokens(1))

    await expect(session.request('/things', { schema: okSchema })).resolves.toEqual({ ok: true })

    expect(fetchMock.mock.calls.map(([url, init]) => [url, authorization(init)])).toEqual([
      ['/api/v1/things', 'Bearer access-1'],
      ['/api/v1/auth/refresh', null],
      ['/api/v1/things', 'Bearer access-2'],
    ])
  })

  it('makes one refresh for several calls that fail at once', async () => {
    const fetchMock = mockFetch((url, init) => {
      if (isRefresh(url)) return jsonResponse(tokens(2))
      return authorization(init) === 'Bearer access-2'
        ? jsonResponse({ ok: true })
        : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.')
    })
    const session = signedIn(tokens(1))

    const results = await Promise.all([
      session.request('/a', { schema: okSchema }),
      session.request('/b', { schema: okSchema }),
      session.request('/c', { schema: okSchema }),
    ])

    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }])
    expect(fetchMock.mock.calls.filter(([url]) => isRefresh(url))).toHaveLength(1)
    expect(fetchMock).toHaveBeenCalledTimes(7) // 3 failures, 1 refresh, 3 retries
  })

  it('retries only once: a second 401 is the caller’s error', async () => {
    const fetchMock = mockFetch((url) =>
      isRefresh(url)
        ? jsonResponse(tokens(2))
        : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.'),
    )
    const session = signedIn(tokens(1))

    await expect(session.request('/things', { schema: okSchema })).rejects.toMatchObject({
      errcode: 'M_UNKNOWN_TOKEN',
    })
    expect(fetchMock).toHaveBeenCalledTimes(3)
  })

  it('ends the session when the refresh fails, and throws the original error', async () => {
    const fetchMock = mockFetch((url) =>
      isRefresh(url)
        ? errorResponse(401, 'M_UNKNOWN_TOKEN', 'Session ended.')
        : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.'),
    )
    const session = signedIn(tokens(1))
    const events = record(session)

    await expect(session.request('/things', { schema: okSchema })).rejects.toMatchObject({
      status: 401,
      message: 'Token expired.',
    })
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'ended' })
    expect(events).toEqual([{ type: 'signed-out', reason: 'ended' }])
    expect(fetchMock).toHaveBeenCalledTimes(2) // no retry without a token
  })

  it('does not refresh for other refusals', async () => {
    const fetchMock = mockFetch(() => errorResponse(403, 'M_FORBIDDEN', 'Not yours.'))
    const session = signedIn(tokens(1))

    await expect(session.request('/things', { schema: okSchema })).rejects.toMatchObject({
      errcode: 'M_FORBIDDEN',
    })
    expect(fetchMock).toHaveBeenCalledTimes(1)
    expect(session.getState().status).toBe('signed-in')
  })

  it('keeps the session when the refresh got no answer', async () => {
    mockFetch((url) => {
      if (isRefresh(url)) throw new TypeError('Failed to fetch')
      return errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.')
    })
    const session = signedIn(tokens(1))

    await expect(session.request('/things', { schema: okSchema })).rejects.toBeInstanceOf(
      NetworkError,
    )
    expect(session.getState().status).toBe('signed-in')
  })

  it('fails without a request when nobody is signed in', async () => {
    const fetchMock = mockFetch(() => jsonResponse({ ok: true }))
    const session = new AuthSession({ signedOut: true })

    await expect(session.request('/things', { schema: okSchema })).rejects.toMatchObject({
      status: 401,
      errcode: 'M_MISSING_TOKEN',
    })
    expect(fetchMock).not.toHaveBeenCalled()
  })

  it('waits for the session to be restored first', async () => {
    const fetchMock = mockFetch((url) =>
      isRefresh(url) ? jsonResponse(tokens(5)) : jsonResponse({ ok: true }),
    )
    const session = restoring()

    await expect(session.request('/things', { schema: okSchema })).resolves.toEqual({ ok: true })
    expect(fetchMock.mock.calls.map(([url, init]) => [url, authorization(init)])).toEqual([
      ['/api/v1/auth/refresh', null],
      ['/api/v1/things', 'Bearer access-5'],
    ])
  })
})

describe('scheduled refresh', () => {
  it('refreshes shortly before the access token expires', async () => {
    vi.useFakeTimers()
    const fetchMock = mockFetch(() => jsonResponse(tokens(2)))
    const session = signedIn(tokens(1, { expires_in: 300 }))

    await vi.advanceTimersByTimeAsync(239_000)
    expect(fetchMock).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fetchMock).toHaveBeenCalledTimes(1)

    // The new token is used from then on.
    mockFetch(() => jsonResponse({ ok: true }))
    const next = vi.mocked(fetch)
    await session.request('/things', { schema: okSchema })
    expect(authorization(next.mock.calls[0]?.[1])).toBe('Bearer access-2')
  })

  it('tries again later when the refresh got no answer', async () => {
    vi.useFakeTimers()
    let online = false
    const fetchMock = mockFetch(() => {
      if (!online) throw new TypeError('Failed to fetch')
      return jsonResponse(tokens(2))
    })
    const session = signedIn(tokens(1, { expires_in: 300 }))

    await vi.advanceTimersByTimeAsync(240_000)
    expect(fetchMock).toHaveBeenCalledTimes(1)
    expect(session.getState().status).toBe('signed-in')

    online = true
    await vi.advanceTimersByTimeAsync(30_000)
    expect(fetchMock).toHaveBeenCalledTimes(2)
    expect(session.getState().status).toBe('signed-in')
  })

  it('ends the session when the scheduled refresh is refused', async () => {
    vi.useFakeTimers()
    mockFetch(() => errorResponse(401, 'M_UNKNOWN_TOKEN', 'Session ended.'))
    const session = signedIn(tokens(1, { expires_in: 300 }))
    const events = record(session)

    await vi.advanceTimersByTimeAsync(240_000)

    expect(events).toEqual([{ type: 'signed-out', reason: 'ended' }])
  })

  it('stops when the user signs out', async () => {
    vi.useFakeTimers()
    const fetchMock = mockFetch(() => jsonResponse(tokens(2)))
    const session = signedIn(tokens(1, { expires_in: 300 }))

    session.end('signed-out')
    await vi.advanceTimersByTimeAsync(600_000)

    expect(fetchMock).not.toHaveBeenCalled()
  })

  it('leads by a minute, or a fifth of short lifetimes', () => {
    expect(refreshDelayMs(900)).toBe(840_000)
    expect(refreshDelayMs(100)).toBe(80_000)
    expect(refreshDelayMs(0)).toBe(1_000)
  })
})
