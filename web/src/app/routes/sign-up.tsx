import { RedirectIfSignedIn } from '@/features/auth/components/require-auth'
import { SignUpForm } from '@/features/auth/components/sign-up-form'
import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function SignUpRoute() {
  useServerPageTitle('Create account')
  const { data } = useServerInfo()
  return (
    <RedirectIfSignedIn>
      <SignUpForm serverName={data?.serverName} />
    </RedirectIfSignedIn>
  )
}
