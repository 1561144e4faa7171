import { describe, expect, it } from 'vitest'

import {
  codePoints,
  displayNameRule,
  emailRule,
  fullNameRule,
  newPasswordRule,
  usernameRule,
} from '@/lib/forms/rules'

const messages = (result: { success: boolean; error?: { issues: { message: string }[] } }) =>
  result.error?.issues.map((issue) => issue.message) ?? []

describe('usernameRule', () => {
  it('trims and lower-cases, as the server does', () => {
    expect(usernameRule.parse('  Alice.Liddell_1=x-y ')).toBe('alice.liddell_1=x-y')
  })

  it('refuses other characters, empty and over-long names', () => {
    expect(messages(usernameRule.safeParse('alice!'))).toEqual([
      'Use only letters a-z, digits and . _ = -',
    ])
    expect(usernameRule.safeParse('élise').success).toBe(false)
    expect(usernameRule.safeParse('a b').success).toBe(false)
    expect(messages(usernameRule.safeParse('   '))).toContain('Choose a username.')
    expect(usernameRule.safeParse('a'.repeat(64)).success).toBe(true)
    expect(usernameRule.safeParse('a'.repeat(65)).success).toBe(false)
  })
})

describe('newPasswordRule', () => {
  it('counts Unicode code points, not UTF-16 units', () => {
    const emoji = '😀' // one code point, two UTF-16 units
    expect(emoji.repeat(7)).toHaveLength(14)
    expect(codePoints(emoji.repeat(7))).toBe(7)

    expect(newPasswordRule.safeParse(emoji.repeat(7)).success).toBe(false)
    expect(newPasswordRule.safeParse(emoji.repeat(8)).success).toBe(true)
    expect(newPasswordRule.safeParse(emoji.repeat(256)).success).toBe(true)
    expect(newPasswordRule.safeParse(emoji.repeat(257)).success).toBe(false)
  })

  it('takes 8 to 256 characters', () => {
    expect(messages(newPasswordRule.safeParse('short'))).toEqual(['Use at least 8 characters.'])
    expect(newPasswordRule.safeParse('12345678').success).toBe(true)
    expect(newPasswordRule.safeParse('x'.repeat(256)).success).toBe(true)
    expect(messages(newPasswordRule.safeParse('x'.repeat(257)))).toEqual([
      'Use at most 256 characters.',
    ])
  })
})

describe('emailRule', () => {
  it('trims and accepts ordinary addresses, also at dotless hosts', () => {
    expect(emailRule.parse('  alice@example.org ')).toBe('alice@example.org')
    expect(emailRule.safeParse('alice@intranet').success).toBe(true)
  })

  it('refuses what is not an address', () => {
    expect(messages(emailRule.safeParse(''))).toEqual(['Enter your email address.'])
    expect(emailRule.safeParse('alice').success).toBe(false)
    expect(emailRule.safeParse('alice@').success).toBe(false)
    expect(emailRule.safeParse('a b@example.org').success).toBe(false)
  })
})

describe('names', () => {
  it('full name: 1 to 128 characters after trimming, no control characters', () => {
    expect(fullNameRule.parse('  Alice Liddell ')).toBe('Alice Liddell')
    expect(messages(fullNameRule.safeParse('   '))).toEqual(['Enter your full name.'])
    expect(fullNameRule.safeParse('é'.repeat(128)).success).toBe(true)
    expect(fullNameRule.safeParse('é'.repeat(129)).success).toBe(false)
    expect(fullNameRule.safeParse('Alice\u0007').success).toBe(false)
  })

  it('display name: empty is fine (it removes the name), at most 64 characters', () => {
    expect(displayNameRule.parse('   ')).toBe('')
    expect(displayNameRule.safeParse('x'.repeat(64)).success).toBe(true)
    expect(displayNameRule.safeParse('x'.repeat(65)).success).toBe(false)
  })
})
