import { useSearchParams } from 'react-router'

import { VerifyEmail } from '@/features/auth/components/verify-email'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function VerifyEmailRoute() {
  useServerPageTitle('Confirm email address')
  const [params] = useSearchParams()
  return <VerifyEmail token={params.get('token')} />
}
