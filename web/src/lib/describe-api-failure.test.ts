import { describe, expect, it } from 'vitest'

import { ApiError, InvalidResponseError, NetworkError } from '@/lib/api-client'
import { describeApiFailure } from '@/lib/describe-api-failure'

describe('describeApiFailure', () => {
  it('distinguishes a timeout from a refused connection', () => {
    const refused = describeApiFailure(new NetworkError('x', { cause: null }))
    const timedOut = describeApiFailure(new NetworkError('x', { cause: null, timedOut: true }))

    expect(refused.title).toBe('Server unreachable')
    expect(refused.detail).toMatch(/could not connect/i)
    expect(timedOut.detail).toMatch(/too long/i)
  })

  it("quotes the server's message and code for API errors", () => {
    const serverError = describeApiFailure(
      new ApiError({ status: 500, errcode: 'INTERNAL', message: 'Boom' }),
    )
    const refused = describeApiFailure(
      new ApiError({ status: 403, errcode: 'FORBIDDEN', message: 'Not for you' }),
    )

    expect(serverError).toEqual({ title: 'Server error', detail: 'Boom (INTERNAL, HTTP 500)' })
    expect(refused.title).toBe('Request refused')
  })

  it('has words for malformed answers and for anything else', () => {
    expect(describeApiFailure(new InvalidResponseError('x', { status: 200 })).title).toBe(
      'Unexpected response',
    )
    expect(describeApiFailure(new Error('?')).title).toBe('Something went wrong')
  })
})
