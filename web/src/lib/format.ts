/**
 * Formatting of dates and durations for people. Dates follow the browser's locale; relative
 * times are English, like the sentences around them.
 */

const UI_LOCALE = 'en'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** "You can try again in 45 seconds." for a rate limit's `retry_after_ms`. */
export function formatRetryAfter(ms: number): string {
  if (ms <= SECOND) return 'You can try again now.'
  const relative = new Intl.RelativeTimeFormat(UI_LOCALE, { numeric: 'always' })
  if (ms < MINUTE) return `You can try again ${relative.format(Math.ceil(ms / SECOND), 'second')}.`
  if (ms < HOUR) return `You can try again ${relative.format(Math.ceil(ms / MINUTE), 'minute')}.`
  return `You can try again ${relative.format(Math.ceil(ms / HOUR), 'hour')}.`
}

/** A date and time, e.g. "24 Nov 2026, 14:05". `iso` is RFC 3339; invalid input is returned as is. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(
    date,
  )
}

/** How long ago `iso` was, e.g. "5 minutes ago", "yesterday"; "just now" under a minute. */
export function formatTimeAgo(iso: string, now: number = Date.now()): string {
  const then = new Date(iso).getTime()
  if (Number.isNaN(then)) return iso
  const elapsed = Math.max(now - then, 0)
  if (elapsed < MINUTE) return 'just now'
  const relative = new Intl.RelativeTimeFormat(UI_LOCALE, { numeric: 'auto' })
  if (elapsed < HOUR) return relative.format(-Math.floor(elapsed / MINUTE), 'minute')
  if (elapsed < DAY) return relative.format(-Math.floor(elapsed / HOUR), 'hour')
  if (elapsed < 30 * DAY) return relative.format(-Math.floor(elapsed / DAY), 'day')
  return formatDateTime(iso)
}
