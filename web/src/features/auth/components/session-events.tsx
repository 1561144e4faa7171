import { useQueryClient } from '@tanstack/react-query'
import { useEffect, useRef } from 'react'
import { useLocation, useNavigate } from 'react-router'
import { toast } from 'sonner'

import { paths } from '@/config/paths'
import type { SignInRedirectState } from '@/features/auth/redirect'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthSession } from '@/lib/auth/use-auth'

/**
 * Reacts to sessions starting and ending, wherever the user is in the app: drops the previous
 * user's cached data, and when a session ends (signed out here, or ended by the server) goes
 * to the sign-in page. Renders nothing; mount it once inside the router.
 */
export function SessionEvents() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const location = useLocation()
  const locationRef = useRef(location)

  useEffect(() => {
    locationRef.current = location
  }, [location])

  useEffect(
    () =>
      session.onEvent((event) => {
        queryClient.removeQueries({ queryKey: userQueryKey })
        if (event.type !== 'signed-out') return
        if (event.reason === 'ended') {
          // Expired, signed out from another device, or the password changed elsewhere.
          toast.error('Your session has ended', {
            id: 'session-ended',
            description: 'Sign in again to continue.',
          })
          const { pathname, search, hash } = locationRef.current
          const state: SignInRedirectState = { from: { pathname, search, hash } }
          void navigate(paths.signIn, { state })
        } else if (event.reason === 'signed-out') {
          void navigate(paths.signIn)
        }
      }),
    [session, queryClient, navigate],
  )

  return null
}
