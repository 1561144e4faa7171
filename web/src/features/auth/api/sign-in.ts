import { useMutation } from '@tanstack/react-query'

import { apiClient } from '@/lib/api-client'
import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { describeUserAgent, storedDeviceId } from '@/lib/auth/device'
import { tokenResponseSchema, type TokenResponse } from '@/lib/auth/token-response'
import { useAuthSession } from '@/lib/auth/use-auth'

export interface SignInInput {
  /** Username, `@username:server` or email address. */
  identifier: string
  password: string
}

/** The body of `POST /auth/login` for this browser: cookie transport, its device kept. */
export function loginRequest(input: SignInInput): ApiSchemas['LoginRequest'] {
  const deviceId = storedDeviceId()
  return {
    identifier: input.identifier,
    password: input.password,
    ...(deviceId === undefined ? {} : { device_id: deviceId }),
    device_name: describeUserAgent(navigator.userAgent),
    // The refresh token goes into an HttpOnly cookie, out of reach of script.
    refresh_token_transport: 'cookie',
  }
}

/** `POST /api/v1/auth/login`, then start the session with the tokens. */
export async function signIn(session: AuthSession, input: SignInInput): Promise<TokenResponse> {
  const tokens = await apiClient.post('/auth/login', loginRequest(input), tokenResponseSchema)
  session.start(tokens)
  return tokens
}

export function useSignIn() {
  const session = useAuthSession()
  return useMutation({ mutationFn: (input: SignInInput) => signIn(session, input) })
}
