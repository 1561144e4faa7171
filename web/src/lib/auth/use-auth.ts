import { use, useSyncExternalStore } from 'react'

import { AuthSessionContext } from '@/lib/auth/auth-context'
import type { AuthSession, AuthState } from '@/lib/auth/auth-session'

/** The app's session: for authenticated requests, signing in and out. */
export function useAuthSession(): AuthSession {
  const session = use(AuthSessionContext)
  if (!session) throw new Error('useAuthSession must be used inside <AuthProvider>')
  return session
}

/** Who is signed in, re-rendering when that changes. */
export function useAuthState(): AuthState {
  const session = useAuthSession()
  return useSyncExternalStore(session.subscribe, session.getState)
}
