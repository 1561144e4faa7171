import { useSearchParams } from 'react-router'

import { ResetPasswordForm } from '@/features/auth/components/reset-password-form'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function ResetPasswordRoute() {
  useServerPageTitle('Choose a new password')
  const [params] = useSearchParams()
  return <ResetPasswordForm token={params.get('token')} />
}
