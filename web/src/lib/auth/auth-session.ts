/**
 * The browser's session with its homeserver: who is signed in, the access token, and keeping
 * that token fresh.
 *
 * - The access token lives in this object only (memory), never in web storage, so a script
 *   injected into the page later cannot read it from there, and it is gone when the tab closes.
 * - The refresh token is an HttpOnly, SameSite=Strict cookie that script cannot read at all;
 *   `POST /auth/refresh` with an empty body trades it for a new access token (and a rotated
 *   cookie). That is how a reload restores the session ({@link AuthSession.restore}).
 * - Refreshes are single-flight: however many callers need a new token at once, one request
 *   goes out and all of them await it. This matters because the server rotates the refresh
 *   token on every use and treats reuse of an old one as theft.
 * - {@link AuthSession.request} sends `Authorization: Bearer`, and when the server answers
 *   `401 M_UNKNOWN_TOKEN` (expired token) it refreshes once and retries the call once. If the
 *   refresh is refused, the session is over: the state becomes signed-out with reason `ended`,
 *   and listeners ({@link AuthSession.onEvent}) take the user to the sign-in page.
 */
import type * as z from 'zod'

import { REFRESH_LEAD_MS, REFRESH_RETRY_MS } from '@/config/auth'
import { ApiError, apiRequest, hasErrcode, type RequestOptions } from '@/lib/api-client'
import type { ApiSchemas } from '@/lib/api/types'
import { storeDeviceId } from '@/lib/auth/device'
import { tokenResponseSchema, type TokenResponse } from '@/lib/auth/token-response'

export interface SignedInUser {
  /** `@username:server`. */
  userId: string
  deviceId: string
  sessionId: string
}

/**
 * Why nobody is signed in:
 * - `none`: no session was found when the app started;
 * - `signed-out`: the user signed out;
 * - `ended`: the server ended the session (expired, signed out elsewhere, password changed).
 */
export type SignOutReason = 'none' | 'signed-out' | 'ended'

export type AuthState =
  /** Finding out, at start-up, whether the refresh cookie still holds a session. */
  | { status: 'restoring' }
  | { status: 'signed-in'; user: SignedInUser }
  | { status: 'signed-out'; reason: SignOutReason }

export type AuthEvent =
  { type: 'signed-in'; user: SignedInUser } | { type: 'signed-out'; reason: SignOutReason }

/** How long to wait before refreshing an access token that expires in `expiresInSecs`. */
export function refreshDelayMs(expiresInSecs: number): number {
  const lifetime = expiresInSecs * 1000
  const lead = Math.min(REFRESH_LEAD_MS, lifetime / 5)
  return Math.max(lifetime - lead, 1000)
}

export interface AuthSessionOptions {
  /**
   * Start signed out instead of restoring: for a page that knows there is no session to
   * restore, and for tests.
   */
  signedOut?: boolean
}

export class AuthSession {
  #state: AuthState
  #accessToken: string | undefined
  #refreshTimer: ReturnType<typeof setTimeout> | undefined
  #refreshing: Promise<string | undefined> | undefined
  #restoring: Promise<void> | undefined
  /** Bumped whenever a session starts or ends: answers meant for an older one are dropped. */
  #generation = 0
  readonly #stateListeners = new Set<() => void>()
  readonly #eventListeners = new Set<(event: AuthEvent) => void>()

  constructor(options: AuthSessionOptions = {}) {
    this.#state = options.signedOut
      ? { status: 'signed-out', reason: 'none' }
      : { status: 'restoring' }
  }

  /** The current state; a new object only when it changes (for `useSyncExternalStore`). */
  readonly getState = (): AuthState => this.#state

  /** Call `listener` after every change of state. Returns the unsubscribe function. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#stateListeners.add(listener)
    return () => this.#stateListeners.delete(listener)
  }

  /** Call `listener` when a session starts by sign-in, or ends. Returns the unsubscribe function. */
  onEvent(listener: (event: AuthEvent) => void): () => void {
    this.#eventListeners.add(listener)
    return () => this.#eventListeners.delete(listener)
  }

  /**
   * Restore the session of an earlier visit from the refresh cookie, if there is one. Runs at
   * most once; later calls (and React StrictMode's second effect) get the same promise.
   */
  restore(): Promise<void> {
    if (this.#state.status !== 'restoring') return this.#restoring ?? Promise.resolve()
    this.#restoring ??= this.refresh().then(
      () => undefined,
      () => {
        // No answer (offline, server down): nothing to restore that we could use now.
        if (this.#state.status === 'restoring') this.#end('none')
      },
    )
    return this.#restoring
  }

  /** Begin a session with the tokens a sign-in returned. */
  start(tokens: TokenResponse): void {
    this.#generation += 1
    this.#refreshing = undefined
    storeDeviceId(tokens.device_id)
    const user = this.#accept(tokens)
    this.#emit({ type: 'signed-in', user })
  }

  /** Forget the session here (after signing out, or when the server has ended it). */
  end(reason: Exclude<SignOutReason, 'none'>): void {
    this.#end(reason)
  }

  /**
   * A new access token from the refresh cookie. Single-flight: concurrent callers share one
   * request. Resolves to the new token, or to `undefined` when the server refused: the session
   * is over and the state is signed-out. Rejects when there was no usable answer (network
   * failure, server error), which says nothing about the session.
   */
  refresh(): Promise<string | undefined> {
    if (this.#refreshing) return this.#refreshing
    const attempt = this.#refreshOnce().finally(() => {
      if (this.#refreshing === attempt) this.#refreshing = undefined
    })
    this.#refreshing = attempt
    return attempt
  }

  /**
   * Send an authenticated request through the API client. On `401 M_UNKNOWN_TOKEN` it
   * refreshes the token once and retries once; if the refresh is refused the session ends and
   * the original error is thrown.
   */
  async request<S extends z.ZodType>(
    path: string,
    options: RequestOptions<S>,
  ): Promise<z.output<S>> {
    await this.restore()
    const generation = this.#generation
    const token = this.#accessToken
    if (token === undefined) {
      throw new ApiError({
        status: 401,
        errcode: 'M_MISSING_TOKEN',
        message: 'You are not signed in.',
      })
    }
    try {
      return await apiRequest(path, withBearer(options, token))
    } catch (error) {
      // Only an expired or revoked token is worth a refresh, and only for the same session.
      if (!hasErrcode(error, 'M_UNKNOWN_TOKEN') || generation !== this.#generation) throw error
      const current = this.#accessToken
      // Another call may have refreshed while this one was under way.
      const fresh = current !== undefined && current !== token ? current : await this.refresh()
      if (fresh === undefined) throw error
      return apiRequest(path, withBearer(options, fresh))
    }
  }

  /**
   * The current access token, once the session is restored; `undefined` when signed out. For
   * transports that cannot go through {@link AuthSession.request} (the WebSocket's upgrade).
   */
  async accessToken(): Promise<string | undefined> {
    await this.restore()
    return this.#accessToken
  }

  /** Stop the refresh timer and drop every listener (tests, unmounting the app). */
  dispose(): void {
    this.#generation += 1
    clearTimeout(this.#refreshTimer)
    this.#refreshTimer = undefined
    this.#stateListeners.clear()
    this.#eventListeners.clear()
  }

  async #refreshOnce(): Promise<string | undefined> {
    const generation = this.#generation
    let tokens: TokenResponse
    try {
      const body: ApiSchemas['RefreshRequest'] = {} // the cookie carries the token
      tokens = await apiRequest('/auth/refresh', {
        method: 'POST',
        body,
        schema: tokenResponseSchema,
      })
    } catch (error) {
      if (generation !== this.#generation) return this.#accessToken
      // 401 M_UNKNOWN_TOKEN / M_MISSING_TOKEN: the session is gone (403: the account is).
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        this.#end(this.#state.status === 'restoring' ? 'none' : 'ended')
        return undefined
      }
      throw error
    }
    // Signed out (or in as someone else) while this was under way: not ours to apply.
    if (generation !== this.#generation) return this.#accessToken
    this.#accept(tokens)
    return tokens.access_token
  }

  #accept(tokens: TokenResponse): SignedInUser {
    this.#accessToken = tokens.access_token
    const user: SignedInUser = {
      userId: tokens.user_id,
      deviceId: tokens.device_id,
      sessionId: tokens.session_id,
    }
    const state = this.#state
    const same =
      state.status === 'signed-in' &&
      state.user.userId === user.userId &&
      state.user.deviceId === user.deviceId &&
      state.user.sessionId === user.sessionId
    if (!same) this.#setState({ status: 'signed-in', user })
    this.#scheduleRefresh(refreshDelayMs(tokens.expires_in))
    return same ? state.user : user
  }

  #scheduleRefresh(delayMs: number): void {
    clearTimeout(this.#refreshTimer)
    const generation = this.#generation
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined
      this.refresh().catch(() => {
        // No answer: keep the session and try again in a while. (A call made meanwhile with
        // an expired token triggers its own refresh.)
        if (generation === this.#generation && this.#state.status === 'signed-in') {
          this.#scheduleRefresh(REFRESH_RETRY_MS)
        }
      })
    }, delayMs)
  }

  #end(reason: SignOutReason): void {
    this.#generation += 1
    this.#accessToken = undefined
    this.#refreshing = undefined
    clearTimeout(this.#refreshTimer)
    this.#refreshTimer = undefined
    if (this.#state.status === 'signed-out') return
    this.#setState({ status: 'signed-out', reason })
    this.#emit({ type: 'signed-out', reason })
  }

  #setState(state: AuthState): void {
    this.#state = state
    for (const listener of [...this.#stateListeners]) listener()
  }

  #emit(event: AuthEvent): void {
    for (const listener of [...this.#eventListeners]) listener(event)
  }
}

function withBearer<S extends z.ZodType>(
  options: RequestOptions<S>,
  token: string,
): RequestOptions<S> {
  return { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } }
}
