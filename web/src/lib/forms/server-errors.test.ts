import { describe, expect, it } from 'vitest'

import { ApiError, NetworkError } from '@/lib/api-client'
import { placeSubmitFailure } from '@/lib/forms/server-errors'

const signUpFields = {
  M_INVALID_USERNAME: 'username',
  M_USER_IN_USE: 'username',
  M_WEAK_PASSWORD: 'password',
} as const

function apiError(status: number, errcode: string, message: string, retryAfterMs?: number) {
  return new ApiError({
    status,
    errcode,
    message,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  })
}

describe('placeSubmitFailure', () => {
  it('puts field-specific codes next to their field, with the server’s words', () => {
    expect(
      placeSubmitFailure(apiError(409, 'M_USER_IN_USE', 'This username is taken.'), signUpFields),
    ).toEqual({ field: 'username', message: 'This username is taken.' })
    expect(
      placeSubmitFailure(apiError(400, 'M_INVALID_USERNAME', 'Bad username.'), signUpFields),
    ).toEqual({ field: 'username', message: 'Bad username.' })
    expect(
      placeSubmitFailure(apiError(400, 'M_WEAK_PASSWORD', 'Too common.'), signUpFields),
    ).toEqual({ field: 'password', message: 'Too common.' })
  })

  it('puts other codes above the form', () => {
    expect(
      placeSubmitFailure(apiError(403, 'M_FORBIDDEN', 'Wrong username or password.'), signUpFields),
    ).toEqual({ field: undefined, message: 'Wrong username or password.', errcode: 'M_FORBIDDEN' })
    expect(placeSubmitFailure(apiError(400, 'M_WEAK_PASSWORD', 'Too common.'))).toMatchObject({
      field: undefined,
    })
  })

  it('says when to try again after a rate limit', () => {
    const failure = placeSubmitFailure(
      apiError(429, 'M_LIMIT_EXCEEDED', 'Too many failed sign-ins.', 120_000),
    )
    expect(failure).toEqual({
      field: undefined,
      message: 'Too many failed sign-ins. You can try again in 2 minutes.',
      errcode: 'M_LIMIT_EXCEEDED',
    })
  })

  it('has its own words when the server said nothing', () => {
    const failure = placeSubmitFailure(new NetworkError('x', { cause: null }))
    expect(failure.field).toBeUndefined()
    expect(failure.message).toMatch(/^Server unreachable\. Could not connect/)
  })
})
