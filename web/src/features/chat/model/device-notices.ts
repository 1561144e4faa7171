/**
 * Notices that someone you talk to has a new device ("bob signed in on a new device"), shown in
 * each conversation with them.
 *
 * The devices of each user are remembered (ids only) in local storage, per signed-in user; the
 * first list seen for a user is the baseline, and every device that appears later is announced
 * in the conversations shared with that user at the time. A new device is how an attacker who
 * took over an account (or the server) would read along: people should see it, and verify it.
 */

export interface DeviceNotice {
  roomId: string
  userId: string
  deviceId: string
  /** The device's display name, if it has one. */
  name: string | undefined
  /** When this device noticed it (ms since the epoch). */
  at: number
}

interface Saved {
  known: Record<string, string[]>
  notices: DeviceNotice[]
}

/** Keep this many notices at most (oldest dropped). */
const MAX_NOTICES = 500

export class DeviceNoticeStore {
  readonly #key: string
  readonly #storage: Storage | undefined
  #saved: Saved
  #version = 0
  readonly #listeners = new Set<() => void>()

  constructor(me: string, storage: Storage | undefined = safeLocalStorage()) {
    this.#key = `parley.e2ee.devices:${me}`
    this.#storage = storage
    this.#saved = this.#load()
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  readonly getVersion = (): number => this.#version

  /**
   * `userId`'s devices now. Returns the ones that are new since the last list (none the first
   * time a user is seen: that list is the baseline).
   */
  observe(
    userId: string,
    devices: readonly { deviceId: string; displayName: string | undefined }[],
  ): { deviceId: string; displayName: string | undefined }[] {
    const before = this.#saved.known[userId]
    const ids = devices.map((d) => d.deviceId)
    const fresh = before ? devices.filter((d) => !before.includes(d.deviceId)) : []
    const changed = before?.length !== ids.length || fresh.length > 0
    if (changed) {
      this.#saved.known[userId] = ids
      this.#save()
    }
    return fresh
  }

  /** Announce `device` of `userId` in each of `roomIds`. */
  announce(
    roomIds: readonly string[],
    userId: string,
    device: { deviceId: string; displayName: string | undefined },
    at = Date.now(),
  ): void {
    if (roomIds.length === 0) return
    for (const roomId of roomIds) {
      this.#saved.notices.push({
        roomId,
        userId,
        deviceId: device.deviceId,
        name: device.displayName,
        at,
      })
    }
    this.#saved.notices = this.#saved.notices.slice(-MAX_NOTICES)
    this.#save()
    this.#version += 1
    for (const listener of [...this.#listeners]) listener()
  }

  /** The notices of one conversation, oldest first. */
  noticesIn(roomId: string): DeviceNotice[] {
    return this.#saved.notices.filter((n) => n.roomId === roomId)
  }

  #load(): Saved {
    try {
      const raw = this.#storage?.getItem(this.#key)
      if (raw) {
        const parsed = JSON.parse(raw) as Partial<Saved>
        if (typeof parsed.known === 'object' && Array.isArray(parsed.notices)) {
          return { known: parsed.known, notices: parsed.notices }
        }
      }
    } catch {
      // Unreadable: start again (the next list of each user becomes its baseline).
    }
    return { known: {}, notices: [] }
  }

  #save(): void {
    try {
      this.#storage?.setItem(this.#key, JSON.stringify(this.#saved))
    } catch {
      // Storage full or disabled: the notices still show until the page is reloaded.
    }
  }
}

function safeLocalStorage(): Storage | undefined {
  try {
    return localStorage
  } catch {
    return undefined
  }
}

/** The text of a notice. */
export function deviceNoticeText(
  notice: DeviceNotice,
  nameOf: (userId: string) => string = (userId) => userId,
): string {
  const name = notice.name ? `${notice.name}, ` : ''
  return `${nameOf(notice.userId)} has a new device (${name}${notice.deviceId}). Verify it if you did not expect this.`
}
