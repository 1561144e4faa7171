import { Navigate } from 'react-router'

import { signedInHome } from '@/config/paths'
import { ServerWelcome } from '@/features/server-info/components/server-welcome'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'
import { useAuthState } from '@/lib/auth/use-auth'

export function HomeRoute() {
  useServerPageTitle()
  const state = useAuthState()
  // Signed in, the conversations are home.
  if (state.status === 'signed-in') return <Navigate to={signedInHome} replace />
  return <ServerWelcome />
}
