import { useEffect, useState, type ReactNode } from 'react'

import { AuthSessionContext } from '@/lib/auth/auth-context'
import { AuthSession } from '@/lib/auth/auth-session'

interface AuthProviderProps {
  children: ReactNode
  /** Tests pass their own session (e.g. already signed in); the app creates one per mount. */
  session?: AuthSession
}

/** Provides the session and, once mounted, restores it from the refresh cookie. */
export function AuthProvider({ children, session }: AuthProviderProps) {
  const [defaultSession] = useState(() => new AuthSession())
  const current = session ?? defaultSession

  useEffect(() => {
    // Idempotent: StrictMode's second run gets the same promise, not a second refresh.
    void current.restore()
  }, [current])

  return <AuthSessionContext value={current}>{children}</AuthSessionContext>
}
