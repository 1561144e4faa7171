import { paths, signedInHome } from '@/config/paths'

/** What `RequireAuth` puts in the router state when it sends someone to sign in. */
export interface SignInRedirectState {
  from?: { pathname: string; search?: string; hash?: string }
}

/**
 * Where to go after signing in: back where the user was sent away from, if that was a page of
 * this app (never another origin, never the sign-in page itself), else the signed-in home.
 */
export function afterSignInTarget(state: unknown): string {
  const from = (state as SignInRedirectState | null)?.from
  const pathname = from?.pathname
  if (typeof pathname !== 'string' || !pathname.startsWith('/') || pathname.startsWith('//')) {
    return signedInHome
  }
  if (pathname === paths.signIn) return signedInHome
  return `${pathname}${from?.search ?? ''}${from?.hash ?? ''}`
}
