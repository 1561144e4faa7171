/**
 * The one way the app talks to its homeserver's client API.
 *
 * Every call goes to `${API_BASE_PATH}${path}` on the origin that served the app, sends and
 * expects JSON, and validates the response body with a zod schema supplied by the caller, so
 * callers receive typed data or one of three typed errors:
 *
 * - {@link ApiError}: the server answered with an error status (4xx/5xx);
 * - {@link NetworkError}: no answer at all (offline, connection refused, timeout);
 * - {@link InvalidResponseError}: a success status, but a body that is not the expected JSON.
 *
 * A request cancelled through the caller's `signal` rejects with the signal's reason, untouched,
 * so TanStack Query (or any caller) can recognise the cancellation.
 */
import * as z from 'zod'

import { API_BASE_PATH, API_TIMEOUT_MS } from '@/config/api'
import type { ErrorCode } from '@/lib/api/types'

// Zod can compile object schemas with `new Function` for speed. The homeserver's CSP has no
// 'unsafe-eval', and merely probing for it makes the browser report a CSP violation, so tell
// zod to stay interpreted. Set here because every API response is validated through this module.
z.config({ jitless: true })

/**
 * The error body the homeserver sends with every 4xx/5xx response (`ErrorBody`). The code stays
 * a string here: a newer server may send codes this app does not know yet.
 */
const errorBodySchema = z.object({
  errcode: z.string().min(1),
  error: z.string(),
  retry_after_ms: z.number().int().nonnegative().nullish(),
})

/** `errcode` given to an error response whose body is not the homeserver's error shape. */
export const UNKNOWN_ERRCODE = 'UNKNOWN'

/** The homeserver answered with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  /** HTTP status code, 4xx or 5xx. */
  readonly status: number
  /** Machine-readable code from the body, or {@link UNKNOWN_ERRCODE} if the body had none. */
  readonly errcode: string
  /** How long the server asked us to wait before trying again (rate limiting), if it did. */
  readonly retryAfterMs: number | undefined

  constructor(init: { status: number; errcode: string; message: string; retryAfterMs?: number }) {
    super(init.message)
    this.status = init.status
    this.errcode = init.errcode
    this.retryAfterMs = init.retryAfterMs
  }
}

/** The request got no answer: the server is unreachable, the connection broke, or it timed out. */
export class NetworkError extends Error {
  override readonly name = 'NetworkError'
  readonly timedOut: boolean

  constructor(message: string, options: { cause: unknown; timedOut?: boolean }) {
    super(message, { cause: options.cause })
    this.timedOut = options.timedOut ?? false
  }
}

/** The server answered with a success status, but the body is not JSON of the expected shape. */
export class InvalidResponseError extends Error {
  override readonly name = 'InvalidResponseError'
  readonly status: number
  /** What the schema rejected; empty when the body was not JSON at all. */
  readonly issues: readonly z.core.$ZodIssue[]

  constructor(message: string, init: { status: number; issues?: readonly z.core.$ZodIssue[] }) {
    super(message)
    this.status = init.status
    this.issues = init.issues ?? []
  }
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface RequestOptions<S extends z.ZodType> {
  method?: HttpMethod
  /** Serialised as JSON. */
  body?: unknown
  /** Validates (and may transform) the success body; its output is what the request resolves to. */
  schema: S
  /** Cancels the request; TanStack Query passes one to every query function. */
  signal?: AbortSignal
  headers?: Record<string, string>
  timeoutMs?: number
}

/** Send one request to the client API. `path` is relative to {@link API_BASE_PATH}, e.g. `/server`. */
export async function apiRequest<S extends z.ZodType>(
  path: string,
  options: RequestOptions<S>,
): Promise<z.output<S>> {
  const method = options.method ?? 'GET'
  const timeout = AbortSignal.timeout(options.timeoutMs ?? API_TIMEOUT_MS)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'

  // Transport failures can surface from fetch() itself or later, while the body streams in.
  let response: Response
  let text: string
  try {
    response = await fetch(`${API_BASE_PATH}${path}`, {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal,
      credentials: 'same-origin',
    })
    text = await response.text()
  } catch (cause) {
    if (options.signal?.aborted) throw abortReason(options.signal)
    if (timeout.aborted) {
      throw new NetworkError('The server did not answer in time.', { cause, timedOut: true })
    }
    throw new NetworkError('Could not reach the server.', { cause })
  }

  if (!response.ok) throw errorFromResponse(response, text)

  let data: unknown
  if (text === '') {
    data = undefined // e.g. 204 No Content; the schema decides whether that is acceptable
  } else {
    try {
      data = JSON.parse(text)
    } catch {
      throw new InvalidResponseError(`The server's answer to ${method} ${path} is not JSON.`, {
        status: response.status,
      })
    }
  }

  const result = options.schema.safeParse(data)
  if (!result.success) {
    throw new InvalidResponseError(
      `The server's answer to ${method} ${path} does not have the expected shape.`,
      { status: response.status, issues: result.error.issues },
    )
  }
  return result.data
}

type ShortcutOptions = Omit<RequestOptions<z.ZodType>, 'method' | 'body' | 'schema'>

export const apiClient = {
  get<S extends z.ZodType>(path: string, schema: S, options: ShortcutOptions = {}) {
    return apiRequest(path, { ...options, method: 'GET', schema })
  },
  post<S extends z.ZodType>(path: string, body: unknown, schema: S, options: ShortcutOptions = {}) {
    return apiRequest(path, { ...options, method: 'POST', body, schema })
  },
}

/** Whether `error` is the server's refusal with one of `codes`. */
export function hasErrcode(error: unknown, ...codes: ErrorCode[]): error is ApiError {
  return error instanceof ApiError && (codes as string[]).includes(error.errcode)
}

/**
 * Whether trying the same request again later may succeed: the server could not be reached,
 * failed internally, or asked us to slow down. Client errors and malformed answers won't heal.
 */
export function isTransientFailure(error: unknown): boolean {
  if (error instanceof NetworkError) return true
  if (error instanceof ApiError) return error.status >= 500 || error.status === 429
  return false
}

function errorFromResponse(response: Response, text: string): ApiError {
  const body = errorBodySchema.safeParse(safeJsonParse(text))
  if (body.success) {
    return new ApiError({
      status: response.status,
      errcode: body.data.errcode,
      message: body.data.error,
      ...(body.data.retry_after_ms == null ? {} : { retryAfterMs: body.data.retry_after_ms }),
    })
  }
  // Not our error shape: typically a reverse proxy's HTML error page.
  const statusLine = `${String(response.status)} ${response.statusText}`.trim()
  return new ApiError({
    status: response.status,
    errcode: UNKNOWN_ERRCODE,
    message: `The server answered with HTTP ${statusLine}.`,
  })
}

function safeJsonParse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error
    ? reason
    : new DOMException('The request was aborted.', 'AbortError')
}
