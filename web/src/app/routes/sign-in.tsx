import { RedirectIfSignedIn } from '@/features/auth/components/require-auth'
import { SignInForm } from '@/features/auth/components/sign-in-form'
import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function SignInRoute() {
  useServerPageTitle('Sign in')
  const { data } = useServerInfo()
  return (
    <RedirectIfSignedIn>
      <SignInForm serverName={data?.serverName} />
    </RedirectIfSignedIn>
  )
}
