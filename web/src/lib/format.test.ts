import { describe, expect, it } from 'vitest'

import { formatRetryAfter, formatTimeAgo } from '@/lib/format'

describe('formatRetryAfter', () => {
  it('rounds up to the unit that reads best', () => {
    expect(formatRetryAfter(500)).toBe('You can try again now.')
    expect(formatRetryAfter(45_000)).toBe('You can try again in 45 seconds.')
    expect(formatRetryAfter(61_000)).toBe('You can try again in 2 minutes.')
    expect(formatRetryAfter(3 * 3_600_000)).toBe('You can try again in 3 hours.')
  })
})

describe('formatTimeAgo', () => {
  const now = Date.parse('2026-11-24T12:00:00Z')

  it('says how long ago, roughly', () => {
    expect(formatTimeAgo('2026-11-24T11:59:30Z', now)).toBe('just now')
    expect(formatTimeAgo('2026-11-24T11:55:00Z', now)).toBe('5 minutes ago')
    expect(formatTimeAgo('2026-11-24T09:00:00Z', now)).toBe('3 hours ago')
    expect(formatTimeAgo('2026-11-23T12:00:00Z', now)).toBe('yesterday')
  })

  it('passes through what it cannot read', () => {
    expect(formatTimeAgo('not a date', now)).toBe('not a date')
  })
})
