import { ApiError } from '@/lib/api-client'
import type { ErrorCode } from '@/lib/api/types'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { formatRetryAfter } from '@/lib/format'

/** Where a form shows a failed submission: next to one field, or above the whole form. */
export type SubmitFailure<F extends string> =
  { field: F; message: string } | { field: undefined; message: string; errcode: string | undefined }

/**
 * Place an error from submitting a form: the server's `error` text (written for people) goes
 * next to the field its code is about, as `fieldsByCode` says (e.g. `M_USER_IN_USE` →
 * username), or above the form otherwise. Rate limits say when to try again; failures without
 * a server message (network, malformed answers) get our own words.
 */
export function placeSubmitFailure<F extends string>(
  error: unknown,
  fieldsByCode: Partial<Record<ErrorCode, F>> = {},
): SubmitFailure<F> {
  if (!(error instanceof ApiError)) {
    const { title, detail } = describeApiFailure(error)
    return { field: undefined, message: `${title}. ${detail}`, errcode: undefined }
  }
  const field = fieldsByCode[error.errcode as ErrorCode]
  if (field !== undefined) return { field, message: error.message }
  let message = error.message
  if (error.errcode === 'M_LIMIT_EXCEEDED' && error.retryAfterMs !== undefined) {
    message = `${message} ${formatRetryAfter(error.retryAfterMs)}`
  }
  return { field: undefined, message, errcode: error.errcode }
}
