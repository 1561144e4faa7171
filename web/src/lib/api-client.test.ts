import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'

import {
  apiClient,
  ApiError,
  apiRequest,
  InvalidResponseError,
  isTransientFailure,
  NetworkError,
  UNKNOWN_ERRCODE,
} from '@/lib/api-client'
import { jsonResponse, mockFetch } from '@/testing/test-utils'

const pingSchema = z.object({ pong: z.boolean() })

/** Run `promise`, expect it to reject, and hand back the rejection for closer inspection. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject, but it resolved')
}

describe('apiClient', () => {
  it('requests JSON under /api/v1 and returns the validated body', async () => {
    const fetchMock = mockFetch(() => jsonResponse({ pong: true, extra: 'ignored' }))

    const result = await apiClient.get('/ping', pingSchema)

    expect(result).toEqual({ pong: true })
    expect(fetchMock).toHaveBeenCalledTimes(1)
    const [url, init] = fetchMock.mock.calls[0] ?? []
    expect(url).toBe('/api/v1/ping')
    expect(init?.method).toBe('GET')
    expect(init?.body).toBeNull()
    expect(new Headers(init?.headers).get('Accept')).toBe('application/json')
  })

  it('sends a JSON body with POST', async () => {
    const fetchMock = mockFetch(() => jsonResponse({ pong: false }))

    await apiClient.post('/ping', { hello: 'world' }, pingSchema)

    const init = fetchMock.mock.calls[0]?.[1]
    expect(init?.method).toBe('POST')
    expect(init?.body).toBe('{"hello":"world"}')
    expect(new Headers(init?.headers).get('Content-Type')).toBe('application/json')
  })

  it('returns what the schema transforms the body into', async () => {
    mockFetch(() => jsonResponse({ n: '41' }))
    const schema = z.object({ n: z.coerce.number() }).transform(({ n }) => n + 1)

    await expect(apiClient.get('/n', schema)).resolves.toBe(42)
  })

  it('parses the {errcode, error} error shape into an ApiError', async () => {
    mockFetch(() =>
      jsonResponse(
        { errcode: 'LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: 1500 },
        { status: 429 },
      ),
    )

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({
      name: 'ApiError',
      status: 429,
      errcode: 'LIMIT_EXCEEDED',
      message: 'Too many requests',
      retryAfterMs: 1500,
    })
    expect(isTransientFailure(error)).toBe(true)
  })

  it('leaves retryAfterMs undefined when the server does not send it', async () => {
    mockFetch(() => jsonResponse({ errcode: 'NOT_FOUND', error: 'No such thing' }, { status: 404 }))

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toMatchObject({ status: 404, errcode: 'NOT_FOUND', retryAfterMs: undefined })
    expect(isTransientFailure(error)).toBe(false)
  })

  it('turns a non-JSON error response into an ApiError with an unknown errcode', async () => {
    mockFetch(
      () =>
        new Response('<html><body>502 Bad Gateway</body></html>', {
          status: 502,
          statusText: 'Bad Gateway',
          headers: { 'Content-Type': 'text/html' },
        }),
    )

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({
      status: 502,
      errcode: UNKNOWN_ERRCODE,
      message: 'The server answered with HTTP 502 Bad Gateway.',
    })
    expect(isTransientFailure(error)).toBe(true)
  })

  it('does not mistake JSON of another shape for the error shape', async () => {
    mockFetch(() => jsonResponse({ message: 'nope' }, { status: 400 }))

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toMatchObject({ status: 400, errcode: UNKNOWN_ERRCODE })
  })

  it('rejects a success body that does not match the schema', async () => {
    mockFetch(() => jsonResponse({ pong: 'yes' }))

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toBeInstanceOf(InvalidResponseError)
    const invalid = error as InvalidResponseError
    expect(invalid.status).toBe(200)
    expect(invalid.issues.map((issue) => issue.path)).toEqual([['pong']])
    expect(isTransientFailure(error)).toBe(false)
  })

  it('rejects a success body that is not JSON', async () => {
    // What a misconfigured server returns when it answers API paths with the app's index.html.
    mockFetch(() => new Response('<!doctype html><title>Parley</title>', { status: 200 }))

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toBeInstanceOf(InvalidResponseError)
    expect((error as InvalidResponseError).message).toMatch(/not JSON/)
  })

  it('lets the schema decide about an empty body', async () => {
    mockFetch(() => new Response(null, { status: 204 }))

    await expect(apiRequest('/logout', { method: 'POST', schema: z.undefined() })).resolves.toBe(
      undefined,
    )
    await expect(apiClient.get('/ping', pingSchema)).rejects.toBeInstanceOf(InvalidResponseError)
  })

  it('wraps a failed connection in a NetworkError', async () => {
    const cause = new TypeError('Failed to fetch')
    mockFetch(() => {
      throw cause
    })

    const error = await rejectionOf(apiClient.get('/ping', pingSchema))

    expect(error).toBeInstanceOf(NetworkError)
    expect(error).toMatchObject({ timedOut: false, cause })
    expect(isTransientFailure(error)).toBe(true)
  })

  it('reports a timeout as a NetworkError', async () => {
    // Never answer; resolve only when aborted, the way fetch does.
    mockFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => {
            reject(new DOMException('The operation was aborted.', 'TimeoutError'))
          })
        }),
    )

    const error = await rejectionOf(apiRequest('/ping', { schema: pingSchema, timeoutMs: 10 }))

    expect(error).toBeInstanceOf(NetworkError)
    expect(error).toMatchObject({ timedOut: true })
  })

  it("rethrows the caller's abort reason untouched", async () => {
    const fetchMock = mockFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => {
            reject(new DOMException('The operation was aborted.', 'AbortError'))
          })
        }),
    )
    const controller = new AbortController()
    const reason = new Error('component unmounted')

    const pending = apiClient.get('/ping', pingSchema, { signal: controller.signal })
    await vi.waitFor(() => {
      expect(fetchMock).toHaveBeenCalled()
    })
    controller.abort(reason)

    await expect(pending).rejects.toBe(reason)
  })
})
