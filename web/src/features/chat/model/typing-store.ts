/** Who is typing in which room, from `typing` frames; a start lapses on its own after a while. */
export const TYPING_LAPSE_MS = 30_000

const NOBODY: readonly string[] = []

export class TypingStore {
  #rooms = new Map<string, Map<string, ReturnType<typeof setTimeout>>>()
  #snapshots = new Map<string, readonly string[]>()
  readonly #listeners = new Set<() => void>()

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** The users typing in `roomId` (the same array until it changes). */
  typingIn(roomId: string): readonly string[] {
    return this.#snapshots.get(roomId) ?? NOBODY
  }

  set(roomId: string, userId: string, typing: boolean): void {
    let users = this.#rooms.get(roomId)
    if (!users) {
      users = new Map()
      this.#rooms.set(roomId, users)
    }
    const timer = users.get(userId)
    clearTimeout(timer)
    if (typing) {
      users.set(
        userId,
        setTimeout(() => {
          this.set(roomId, userId, false)
        }, TYPING_LAPSE_MS),
      )
    } else {
      if (timer === undefined) return
      users.delete(userId)
    }
    if (!typing || timer === undefined) {
      this.#snapshots.set(roomId, [...users.keys()])
      for (const listener of [...this.#listeners]) listener()
    }
  }

  clear(): void {
    for (const users of this.#rooms.values())
      for (const timer of users.values()) clearTimeout(timer)
    this.#rooms.clear()
    this.#snapshots.clear()
    for (const listener of [...this.#listeners]) listener()
  }
}
