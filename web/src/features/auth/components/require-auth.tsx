import type { ReactNode } from 'react'
import { Navigate, Outlet, useLocation } from 'react-router'

import { LoadingCard } from '@/components/layout/loading-card'
import { paths } from '@/config/paths'
import { afterSignInTarget, type SignInRedirectState } from '@/features/auth/redirect'
import { useAuthState } from '@/lib/auth/use-auth'

/**
 * Renders its children (or the child routes) only for a signed-in user; sends anyone else to
 * sign in, remembering where they were going.
 */
export function RequireAuth({ children }: { children?: ReactNode }) {
  const state = useAuthState()
  const { pathname, search, hash } = useLocation()

  if (state.status === 'restoring') return <LoadingCard label="Restoring your session…" />
  if (state.status === 'signed-out') {
    const redirect: SignInRedirectState = { from: { pathname, search, hash } }
    return <Navigate to={paths.signIn} replace state={redirect} />
  }
  return children ?? <Outlet />
}

/**
 * For pages that only make sense signed out (sign-in, sign-up): a signed-in user goes on to
 * where they wanted to go, or to their home.
 */
export function RedirectIfSignedIn({ children }: { children?: ReactNode }) {
  const state = useAuthState()
  const location = useLocation()

  if (state.status === 'signed-in') {
    return <Navigate to={afterSignInTarget(location.state)} replace />
  }
  if (state.status === 'restoring') return <LoadingCard label="Checking your session…" />
  return children ?? <Outlet />
}
