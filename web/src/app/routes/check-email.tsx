import { useLocation } from 'react-router'

import { CheckEmail, type CheckEmailState } from '@/features/auth/components/check-email'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function CheckEmailRoute() {
  useServerPageTitle('Check your email')
  const state = useLocation().state as CheckEmailState | null
  const email = typeof state?.email === 'string' ? state.email : undefined
  return <CheckEmail email={email} />
}
