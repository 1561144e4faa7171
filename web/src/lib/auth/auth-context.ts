import { createContext } from 'react'

import type { AuthSession } from '@/lib/auth/auth-session'

/** The app's one {@link AuthSession}, provided by `AuthProvider`. */
export const AuthSessionContext = createContext<AuthSession | null>(null)
