import { describe, expect, it } from 'vitest'

import {
  ADDRESS_FORMAT_ERROR,
  addressHint,
  isRemote,
  isServerName,
  localpart,
  parseUserAddress,
  parseUserAddresses,
  remoteServer,
  serverOf,
  userLabel,
} from '@/lib/ids'

const me = '@ann:org-a.example'

describe('serverOf', () => {
  it('is the part after the first colon, port included', () => {
    expect(serverOf('@bob:org-b.example')).toBe('org-b.example')
    expect(serverOf('!abc:org-b.example:8448')).toBe('org-b.example:8448')
  })

  it('is undefined for something without a server', () => {
    expect(serverOf('bob')).toBeUndefined()
    expect(serverOf('@bob:')).toBeUndefined()
    expect(serverOf(':org')).toBeUndefined()
  })
})

describe('isRemote and remoteServer', () => {
  it('tell users and rooms of other servers from the signed-in user’s own', () => {
    expect(isRemote('@bob:org-a.example', me)).toBe(false)
    expect(isRemote('@bob:org-b.example', me)).toBe(true)
    expect(isRemote('!room:org-b.example', me)).toBe(true)
    expect(isRemote('!room:org-a.example', me)).toBe(false)
    // Another port is another server.
    expect(remoteServer('@bob:org-a.example:8448', me)).toBe('org-a.example:8448')
    expect(remoteServer('@bob:org-a.example', me)).toBeUndefined()
  })

  it('treats an id without a server as local', () => {
    expect(isRemote('bob', me)).toBe(false)
  })
})

describe('userLabel', () => {
  it('keeps local users as they were shown', () => {
    expect(userLabel('@bob:org-a.example', me)).toBe('@bob:org-a.example')
    expect(userLabel('@bob:org-a.example', me, { short: true })).toBe('bob')
  })

  it('names the server of a remote user', () => {
    expect(userLabel('@bob:org-b.example', me)).toBe('bob (org-b.example)')
    expect(userLabel('@bob:org-b.example', me, { short: true })).toBe('bob (org-b.example)')
  })

  it('localpart leaves what is not a user id alone', () => {
    expect(localpart('@bob:org-b.example')).toBe('bob')
    expect(localpart('Direct chat')).toBe('Direct chat')
  })
})

describe('isServerName', () => {
  it.each(['org-b.example', 'localhost', 'chat.example.org:8448', '10.0.0.1:443', 'a1.b2'])(
    'accepts %s',
    (name) => {
      expect(isServerName(name)).toBe(true)
    },
  )

  it.each(['', '-org.example', 'org-.example', 'org..example', 'org.example:', 'org:0', 'o:99999'])(
    'refuses %j',
    (name) => {
      expect(isServerName(name)).toBe(false)
    },
  )
})

describe('parseUserAddress', () => {
  it('takes a full address on any server', () => {
    expect(parseUserAddress(' @bob:org-b.example ')).toEqual({
      ok: true,
      userId: '@bob:org-b.example',
    })
    expect(parseUserAddress('@b.o_b=-1:chat.org-b.example:8448')).toEqual({
      ok: true,
      userId: '@b.o_b=-1:chat.org-b.example:8448',
    })
  })

  it('lower-cases, as the server stores names', () => {
    expect(parseUserAddress('@Bob:Org-B.Example')).toEqual({
      ok: true,
      userId: '@bob:org-b.example',
    })
  })

  it.each([
    ['', ADDRESS_FORMAT_ERROR],
    ['bob', ADDRESS_FORMAT_ERROR],
    ['@bob', ADDRESS_FORMAT_ERROR],
    ['bob:org-b.example', ADDRESS_FORMAT_ERROR],
    ['@:org-b.example', /the name has 1 to 64/],
    ['@bob smith:org-b.example', /the name has/],
    ['@bób:org-b.example', /the name has/],
    [`@${'a'.repeat(65)}:org-b.example`, /the name has 1 to 64/],
    ['@bob:', /after the colon comes a server/],
    ['@bob:org_b.example', /after the colon comes a server/],
    ['@bob:org-b.example:http', /after the colon comes a server/],
  ])('refuses %j', (input, message) => {
    const result = parseUserAddress(input)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error).toMatch(message)
  })

  it('accepts a name of exactly 64 characters', () => {
    expect(parseUserAddress(`@${'a'.repeat(64)}:org-b.example`).ok).toBe(true)
  })
})

describe('parseUserAddresses', () => {
  it('splits on commas and spaces, dedupes, and lists what is not an address', () => {
    expect(
      parseUserAddresses('@bob:org-a.example, @cy:org-b.example  @Bob:org-a.example,,x'),
    ).toEqual({
      userIds: ['@bob:org-a.example', '@cy:org-b.example'],
      invalid: ['x'],
    })
  })
})

describe('addressHint', () => {
  it('shows the user’s own server and says how to add people of other organisations', () => {
    expect(addressHint(me)).toMatch(/@name:org-a\.example/)
    expect(addressHint(me)).toMatch(/other organisations are added by their full address/)
  })
})
