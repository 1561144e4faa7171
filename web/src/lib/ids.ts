/**
 * User and room addresses, and which homeserver they belong to. Users are `@localpart:server`,
 * rooms `!opaque:server`, where the server is the user's homeserver or the room's owning one.
 * Rooms can have members of other organisations' servers; everything that tells a remote user
 * or room apart from a local one asks this module.
 */
import { USERNAME_MAX } from '@/lib/forms/rules'

/** The part after the first `:`: the server (it may carry a `:port` of its own). */
export function serverOf(id: string): string | undefined {
  const colon = id.indexOf(':')
  if (colon < 1 || colon === id.length - 1) return undefined
  return id.slice(colon + 1)
}

/** `@alice:example.org` → `alice`; anything that is not a user id is returned as it is. */
export function localpart(userId: string): string {
  return /^@([^:]+):/.exec(userId)?.[1] ?? userId
}

/**
 * Whether a user or room belongs to another server than the signed-in user's (`me`). An id
 * without a server is treated as local: there is nothing to show about it.
 */
export function isRemote(id: string, me: string): boolean {
  const server = serverOf(id)
  return server !== undefined && server !== serverOf(me)
}

/** The server to show next to a user or room, or `undefined` for the user's own server. */
export function remoteServer(id: string, me: string): string | undefined {
  return isRemote(id, me) ? serverOf(id) : undefined
}

/**
 * A user as plain text (system lines, typing line, labels). Local users read as before: the
 * full address, or with `short` the localpart; remote ones always say their server.
 */
export function userLabel(userId: string, me: string, { short = false } = {}): string {
  const server = remoteServer(userId, me)
  if (server !== undefined) return `${localpart(userId)} (${server})`
  return short ? localpart(userId) : userId
}

// A server name as the homeserver takes it: a DNS name (or IPv4 address), optionally `:port`.
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const SERVER_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*(?::\\d{1,5})?$`)
const LOCALPART = /^[a-z0-9._=-]+$/

export function isServerName(value: string): boolean {
  if (value.length > 255 || !SERVER_NAME.test(value)) return false
  const port = /:(\d+)$/.exec(value)?.[1]
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65_535)
}

export type AddressResult = { ok: true; userId: string } | { ok: false; error: string }

/** What an address field says when its value is not shaped like one at all. */
export const ADDRESS_FORMAT_ERROR = 'Enter an address like @name:server.'

/**
 * A user address as typed into a form: the full `@name:server`, for people of the user's own
 * server as for those of other organisations. Lower-cased, as the server stores names.
 */
export function parseUserAddress(input: string): AddressResult {
  const value = input.trim().toLowerCase()
  const colon = value.indexOf(':')
  if (!value.startsWith('@') || colon === -1) return { ok: false, error: ADDRESS_FORMAT_ERROR }
  const name = value.slice(1, colon)
  const server = value.slice(colon + 1)
  if (name === '' || name.length > USERNAME_MAX || !LOCALPART.test(name)) {
    return {
      ok: false,
      error: `In “${input.trim()}”, the name has 1 to ${String(USERNAME_MAX)} of a-z 0-9 . _ = -`,
    }
  }
  if (!isServerName(server)) {
    return {
      ok: false,
      error: `In “${input.trim()}”, after the colon comes a server, like org-b.example.`,
    }
  }
  return { ok: true, userId: `@${name}:${server}` }
}

/** Several addresses separated by commas or spaces, as in the new-group form. */
export function parseUserAddresses(input: string): { userIds: string[]; invalid: string[] } {
  const userIds: string[] = []
  const invalid: string[] = []
  for (const part of input.split(/[\s,]+/).filter(Boolean)) {
    const result = parseUserAddress(part)
    if (!result.ok) invalid.push(part)
    else if (!userIds.includes(result.userId)) userIds.push(result.userId)
  }
  return { userIds, invalid }
}

/** The hint under address fields: everyone goes by their full address, other servers too. */
export function addressHint(me: string): string {
  const own = serverOf(me) ?? 'your-server'
  return `Addresses look like @name:${own}. People of other organisations are added by their full address, like @bob:org-b.example.`
}
