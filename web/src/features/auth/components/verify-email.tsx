import { useQueryClient } from '@tanstack/react-query'
import { ArrowRight, CircleCheck, LinkIcon, RotateCw, Send } from 'lucide-react'
import { useCallback, useEffect, useRef } from 'react'
import { Link } from 'react-router'

import { LoadingCard } from '@/components/layout/loading-card'
import { Button } from '@/components/ui/button'
import { paths, signedInHome } from '@/config/paths'
import { useVerifyEmail } from '@/features/auth/api/verify-email'
import { AuthCard } from '@/features/auth/components/auth-card'
import { hasErrcode } from '@/lib/api-client'
import { userQueryKey } from '@/lib/auth/query-keys'
import { useAuthState } from '@/lib/auth/use-auth'
import { describeApiFailure } from '@/lib/describe-api-failure'

/**
 * Opens an emailed confirmation link: posts its token once, then says how it went. A token
 * works only once, so the request must not be repeated by React StrictMode's second effect run
 * or by re-renders; a ref remembers which token was sent.
 */
export function VerifyEmail({ token }: { token: string | null }) {
  const { mutate, reset, data, error, isError, isSuccess } = useVerifyEmail()
  const sentFor = useRef<string | null>(null)
  const signedIn = useAuthState().status === 'signed-in'
  const queryClient = useQueryClient()

  const send = useCallback(
    (linkToken: string) => {
      sentFor.current = linkToken
      mutate(
        { token: linkToken },
        {
          // A confirmed change of address shows up in the profile.
          onSuccess: () => void queryClient.invalidateQueries({ queryKey: userQueryKey }),
        },
      )
    },
    [mutate, queryClient],
  )

  useEffect(() => {
    if (token !== null && token !== '' && sentFor.current !== token) send(token)
  }, [token, send])

  if (token === null || token === '') {
    return (
      <AuthCard
        role="alert"
        icon={<LinkIcon />}
        title="This link is incomplete"
        description="The address has no confirmation token. Open the link from the email again, or ask for a new one."
        footer={<NewLinkButton />}
      />
    )
  }

  if (isSuccess) {
    return (
      <AuthCard
        role="status"
        icon={<CircleCheck />}
        title="Email address confirmed"
        description={
          <>
            <strong className="font-medium break-all text-foreground" data-testid="verified-email">
              {data.email}
            </strong>{' '}
            is now confirmed for{' '}
            <span className="font-mono break-all text-foreground">{data.user_id}</span>.
          </>
        }
        footer={
          <Button asChild size="lg">
            <Link to={signedIn ? signedInHome : paths.signIn}>
              {signedIn ? 'Go to your profile' : 'Sign in'}
              <ArrowRight />
            </Link>
          </Button>
        }
      />
    )
  }

  if (isError) {
    if (hasErrcode(error, 'M_UNKNOWN_TOKEN')) {
      return (
        <AuthCard
          role="alert"
          icon={<LinkIcon />}
          title="This link no longer works"
          description={`${error.message} Ask for a new link below; it is valid for a limited time and works once.`}
          footer={<NewLinkButton />}
        />
      )
    }
    const { title, detail } = describeApiFailure(error)
    return (
      <AuthCard
        role="alert"
        icon={<LinkIcon />}
        title={title}
        description={`Your address could not be confirmed. ${detail}`}
        footer={
          <Button
            onClick={() => {
              reset()
              send(token)
            }}
          >
            <RotateCw />
            Try again
          </Button>
        }
      />
    )
  }

  return <LoadingCard label="Confirming your email address…" />
}

function NewLinkButton() {
  return (
    <Button asChild variant="outline">
      <Link to={paths.checkEmail}>
        <Send />
        Request a new link
      </Link>
    </Button>
  )
}
