/**
 * One WebSocket connection to the homeserver per signed-in session (`/api/v1/ws`).
 *
 * - Authenticates at the upgrade with the subprotocols `parley.v1` and `parley.token.<token>`;
 *   every (re)connect asks the session store for its current token, so a refreshed token is
 *   used after a reconnect.
 * - Remembers the `stream_pos` of the last event or device-list change (in memory only) and resumes with
 *   `?since=` after a drop, so nothing is missed; events at or before that position (and
 *   event ids already seen) are dropped, so nothing is applied twice.
 * - Reconnects with exponential backoff after any close except `4001` (the session ended),
 *   which it reports through `onSessionEnded` and then stays closed.
 */
import { API_BASE_PATH } from '@/config/api'
import { parseServerFrame, type ClientFrame, type ServerFrame } from '@/lib/realtime/frames'

export type ConnectionState = 'idle' | 'connecting' | 'live' | 'reconnecting'

/** Close codes of the server: resume with `since` (4008, 4009), or the session is over (4001). */
export const CLOSE_SESSION_ENDED = 4001
export const CLOSE_TOO_SLOW = 4008
export const CLOSE_RESUME = 4009

/** The part of the WebSocket API this client uses (the browser's, or a fake in tests). */
export interface SocketLike {
  readonly readyState: number
  onopen: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export type SocketFactory = (url: string, protocols: string[]) => SocketLike

export interface RealtimeClientOptions {
  /**
   * The current access token; `undefined` when signed out (the client then stops). `attempt`
   * counts the failed connections since the last live one: after a few, the token may be stale.
   */
  getToken: (attempt: number) => Promise<string | undefined>
  /** Every server frame, in order, after validation and de-duplication. */
  onFrame: (frame: ServerFrame) => void
  onStateChange?: (state: ConnectionState) => void
  /** The server closed with 4001: sign in again. */
  onSessionEnded?: () => void
  /** Defaults to the browser's WebSocket on the page's own origin. */
  createSocket?: SocketFactory
  /** `ws(s)://host` of the server; defaults to the page's origin. */
  origin?: string
  /** Backoff before reconnect attempt `n` (0-based). */
  backoffMs?: (attempt: number) => number
}

const OPEN = 1
/** How many event ids to remember for de-duplication besides the stream position. */
const SEEN_EVENT_IDS = 2000

export function defaultBackoffMs(attempt: number): number {
  const base = Math.min(30_000, 500 * 2 ** attempt)
  return base / 2 + Math.random() * (base / 2)
}

export class RealtimeClient {
  #state: ConnectionState = 'idle'
  #socket: SocketLike | undefined
  #streamPos: number | undefined
  #seen = new Set<string>()
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #running = false
  /** Bumped on stop: a connect still awaiting its token must not open a socket afterwards. */
  #generation = 0
  readonly #options: RealtimeClientOptions
  readonly #listeners = new Set<() => void>()

  constructor(options: RealtimeClientOptions) {
    this.#options = options
  }

  get state(): ConnectionState {
    return this.#state
  }

  /** The position of the last event received; the `since` of the next connection. */
  get streamPos(): number | undefined {
    return this.#streamPos
  }

  readonly getState = (): ConnectionState => this.#state

  /** Call `listener` after every change of connection state (for `useSyncExternalStore`). */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#attempt = 0
    void this.#connect()
  }

  stop(): void {
    this.#running = false
    this.#generation += 1
    clearTimeout(this.#timer)
    this.#timer = undefined
    const socket = this.#socket
    this.#socket = undefined
    if (socket) {
      socket.onclose = null
      socket.onmessage = null
      socket.onerror = null
      socket.onopen = null
      socket.close(1000, 'client stopped')
    }
    this.#setState('idle')
  }

  /** Send a frame if the connection is live; `false` if it could not be sent now. */
  send(frame: ClientFrame): boolean {
    const socket = this.#socket
    if (this.#state !== 'live' || socket?.readyState !== OPEN) return false
    socket.send(JSON.stringify(frame))
    return true
  }

  async #connect(): Promise<void> {
    const generation = this.#generation
    this.#setState(
      this.#attempt === 0 && this.#streamPos === undefined ? 'connecting' : 'reconnecting',
    )
    let token: string | undefined
    try {
      token = await this.#options.getToken(this.#attempt)
    } catch {
      if (generation === this.#generation) this.#scheduleReconnect()
      return
    }
    if (generation !== this.#generation || !this.#running) return
    if (token === undefined) {
      this.stop()
      return
    }
    const since = this.#streamPos === undefined ? '' : `?since=${String(this.#streamPos)}`
    const url = `${this.#options.origin ?? defaultOrigin()}${API_BASE_PATH}/ws${since}`
    const create = this.#options.createSocket ?? browserSocket
    let socket: SocketLike
    try {
      socket = create(url, ['parley.v1', `parley.token.${token}`])
    } catch {
      this.#scheduleReconnect()
      return
    }
    this.#socket = socket
    socket.onmessage = (message) => {
      if (typeof message.data === 'string') this.handleText(message.data)
    }
    socket.onclose = (event) => {
      if (this.#socket !== socket) return
      this.#socket = undefined
      if (event.code === CLOSE_SESSION_ENDED) {
        this.stop()
        this.#options.onSessionEnded?.()
        return
      }
      this.#scheduleReconnect()
    }
  }

  /** Handle one text frame from the server (public for tests). */
  handleText(text: string): void {
    const frame = parseServerFrame(text)
    if (!frame) return
    if (frame.type === 'event') {
      if (this.#streamPos !== undefined && frame.stream_pos <= this.#streamPos) return
      this.#streamPos = frame.stream_pos
      if (this.#seen.has(frame.event.event_id)) return
      this.#remember(frame.event.event_id)
    } else if (frame.type === 'device_lists') {
      // Shares the event stream's positions: resuming must not replay (or skip) it.
      if (this.#streamPos !== undefined && frame.stream_pos <= this.#streamPos) return
      this.#streamPos = frame.stream_pos
    } else if (frame.type === 'live') {
      if (this.#streamPos === undefined || frame.stream_pos > this.#streamPos) {
        this.#streamPos = frame.stream_pos
      }
      this.#attempt = 0
      this.#setState('live')
    }
    this.#options.onFrame(frame)
  }

  #remember(eventId: string): void {
    this.#seen.add(eventId)
    if (this.#seen.size > SEEN_EVENT_IDS) {
      const oldest = this.#seen.values().next().value
      if (oldest !== undefined) this.#seen.delete(oldest)
    }
  }

  #scheduleReconnect(): void {
    if (!this.#running) return
    this.#setState('reconnecting')
    const delay = (this.#options.backoffMs ?? defaultBackoffMs)(this.#attempt)
    this.#attempt += 1
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#connect()
    }, delay)
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return
    this.#state = state
    this.#options.onStateChange?.(state)
    for (const listener of [...this.#listeners]) listener()
  }
}

function defaultOrigin(): string {
  const { protocol, host } = window.location
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}`
}

function browserSocket(url: string, protocols: string[]): SocketLike {
  return new WebSocket(url, protocols)
}
