import { ForgotPasswordForm } from '@/features/auth/components/forgot-password-form'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function ForgotPasswordRoute() {
  useServerPageTitle('Forgot password')
  return <ForgotPasswordForm />
}
