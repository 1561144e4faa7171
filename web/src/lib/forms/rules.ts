/**
 * Form rules that mirror the homeserver's own checks (homeserver/src/accounts), so most
 * mistakes are caught before a round trip. The server stays the judge: it also refuses common
 * passwords and passwords containing the username, which only it checks.
 */
import * as z from 'zod'

/** Length in Unicode code points, the way the server counts (Rust's `chars().count()`). */
export function codePoints(value: string): number {
  // Code points are what we want here: not UTF-16 units, and not graphemes either.
  // eslint-disable-next-line @typescript-eslint/no-misused-spread
  return [...value].length
}

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256
export const USERNAME_MAX = 64
export const FULL_NAME_MAX = 128
export const DISPLAY_NAME_MAX = 64

// Control characters (C0, DEL, C1), which the server refuses in names.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/

/** A username as typed: trimmed and lower-cased as the server does, then `a-z 0-9 . _ = -`. */
export const usernameRule = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'Choose a username.')
  .max(USERNAME_MAX, `A username has at most ${String(USERNAME_MAX)} characters.`)
  .regex(/^[a-z0-9._=-]+$/, 'Use only letters a-z, digits and . _ = -')

export const emailRule = z
  .string()
  .trim()
  .min(1, 'Enter your email address.')
  .max(254, 'This email address is too long.')
  // The HTML standard's rule (what <input type=email> accepts): permissive, like the server's
  // parser, which also takes addresses at hosts without a dot (e.g. intranet names).
  .pipe(
    z.email({
      pattern: z.regexes.html5Email,
      message: 'Enter a valid email address, like name@example.org.',
    }),
  )

function nameRule(what: string, max: number) {
  return z
    .string()
    .trim()
    .refine((value) => codePoints(value) <= max, `${what} has at most ${String(max)} characters.`)
    .refine(
      (value) => !CONTROL_CHARACTERS.test(value),
      `${what} cannot contain control characters.`,
    )
}

/** A full name: 1 to 128 characters after trimming. */
export const fullNameRule = z
  .string()
  .trim()
  .min(1, 'Enter your full name.')
  .pipe(nameRule('A full name', FULL_NAME_MAX))

/** A display name: at most 64 characters; empty means "none" (the full name is shown). */
export const displayNameRule = nameRule('A display name', DISPLAY_NAME_MAX)

/** A new password: 8 to 256 characters (code points, not UTF-16 units, not bytes). */
export const newPasswordRule = z
  .string()
  .refine(
    (value) => codePoints(value) >= PASSWORD_MIN,
    `Use at least ${String(PASSWORD_MIN)} characters.`,
  )
  .refine(
    (value) => codePoints(value) <= PASSWORD_MAX,
    `Use at most ${String(PASSWORD_MAX)} characters.`,
  )

/** A password being entered to prove who one is: only has to be there. */
export const currentPasswordRule = z.string().min(1, 'Enter your password.')

/** The arguments of `.refine()` on a zod object schema. */
type Refinement<T> = [
  check: (values: T) => boolean,
  params: { message: string; path: PropertyKey[]; when: (payload: { value: unknown }) => boolean },
]

/**
 * Refinement for a form with a new password and its confirmation (`confirm`): reports a
 * mismatch on `confirm`, even while other fields still have problems of their own.
 */
export function confirmationMatches<T extends { confirm: string }>(
  passwordField: keyof T,
): Refinement<T> {
  return [
    (values) => values[passwordField] === values.confirm,
    {
      message: 'The passwords do not match.',
      path: ['confirm'],
      // By default zod skips object refinements while any field is invalid.
      when: (payload) => {
        const value = payload.value as Partial<Record<keyof T, unknown>> | undefined
        return typeof value?.[passwordField] === 'string' && typeof value.confirm === 'string'
      },
    },
  ]
}
