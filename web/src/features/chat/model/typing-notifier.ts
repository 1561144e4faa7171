/**
 * When to tell the room that the user is typing: a start when they begin, refreshed every
 * {@link TYPING_REFRESH_MS} while they keep typing (the server lets a start lapse after 30 s),
 * and a stop when the draft is emptied, sent or the composer loses focus.
 */
export const TYPING_REFRESH_MS = 10_000

export class TypingNotifier {
  #typing = false
  #lastStart = 0
  readonly #send: (typing: boolean) => void
  readonly #now: () => number

  constructor(send: (typing: boolean) => void, now: () => number = Date.now) {
    this.#send = send
    this.#now = now
  }

  /** The draft changed to `text`. */
  input(text: string): void {
    if (text.trim() === '') {
      this.stop()
      return
    }
    const now = this.#now()
    if (!this.#typing || now - this.#lastStart >= TYPING_REFRESH_MS) {
      this.#typing = true
      this.#lastStart = now
      this.#send(true)
    }
  }

  /** Sent, emptied, or left: no longer typing (says so only if it had said otherwise). */
  stop(): void {
    if (!this.#typing) return
    this.#typing = false
    this.#send(false)
  }
}
