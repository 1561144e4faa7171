import { CircleAlert, LogIn, MailWarning } from 'lucide-react'
import { useState } from 'react'
import { useNavigate } from 'react-router'
import { toast } from 'sonner'

import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { TextLink } from '@/components/ui/text-link'
import { paths } from '@/config/paths'
import { useResendVerification } from '@/features/auth/api/resend-verification'
import { useSignIn } from '@/features/auth/api/sign-in'
import { AuthCard } from '@/features/auth/components/auth-card'
import { signInFormSchema } from '@/features/auth/schemas'
import { hasErrcode } from '@/lib/api-client'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/** An email address, as opposed to a username or `@user:server`. */
function looksLikeEmail(identifier: string): boolean {
  return !identifier.startsWith('@') && identifier.includes('@')
}

/**
 * Sign in with username (or user id, or email) and password. Success starts the session; the
 * sign-in route then moves on to where the user wanted to go.
 */
export function SignInForm({ serverName }: { serverName?: string | undefined }) {
  const signIn = useSignIn()
  const resend = useResendVerification()
  const navigate = useNavigate()
  // Set when the password was right but the address is not confirmed yet.
  const [unverified, setUnverified] = useState<{ identifier: string; message: string }>()

  const form = useForm({
    schema: signInFormSchema,
    initialValues: { identifier: '', password: '' },
    onSubmit: async (data) => {
      setUnverified(undefined)
      try {
        await signIn.mutateAsync(data)
      } catch (error) {
        if (hasErrcode(error, 'M_EMAIL_NOT_VERIFIED')) {
          setUnverified({ identifier: data.identifier, message: error.message })
          return
        }
        // M_FORBIDDEN (wrong credentials), M_USER_DEACTIVATED, M_LIMIT_EXCEEDED (with the wait)
        // and failures to connect all belong to the form as a whole.
        form.showFailure(placeSubmitFailure(error))
      }
    },
  })

  function resendLink(identifier: string) {
    if (!looksLikeEmail(identifier)) {
      // The resend request needs the address; ask for it there.
      void navigate(paths.checkEmail)
      return
    }
    resend.mutate(
      { email: identifier },
      {
        onSuccess: () => {
          toast('Check your inbox', {
            description: `If ${identifier} still needs confirming, a new link is on its way.`,
          })
        },
        onError: (error) => {
          toast.error('Could not send a new link', {
            description: placeSubmitFailure(error).message,
          })
        },
      },
    )
  }

  return (
    <AuthCard
      title="Sign in"
      description={serverName === undefined ? 'to this Parley server' : `to ${serverName}`}
      footer={
        <p>
          New here? <TextLink to={paths.signUp}>Create an account</TextLink>
        </p>
      }
    >
      <form {...form.formProps} className="grid gap-4" aria-label="Sign in">
        {form.formError !== undefined && (
          <Alert variant="destructive" role="alert" data-testid="sign-in-error">
            <CircleAlert aria-hidden="true" />
            <AlertTitle>Could not sign in</AlertTitle>
            <AlertDescription>
              <p>{form.formError}</p>
            </AlertDescription>
          </Alert>
        )}
        {unverified !== undefined && (
          <Alert variant="info" role="alert" data-testid="sign-in-unverified">
            <MailWarning aria-hidden="true" />
            <AlertTitle>Confirm your email address</AlertTitle>
            <AlertDescription>
              <p>{unverified.message}</p>
              <Button
                type="button"
                variant="outline"
                size="sm"
                aria-disabled={resend.isPending}
                onClick={() => {
                  if (!resend.isPending) resendLink(unverified.identifier)
                }}
              >
                {resend.isPending && <Spinner />}
                Send a new link
              </Button>
            </AlertDescription>
          </Alert>
        )}

        <FormField
          label="Username or email"
          autoComplete="username"
          autoCapitalize="none"
          autoCorrect="off"
          spellCheck={false}
          required
          {...form.field('identifier')}
        />
        <FormField
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          labelEnd={
            <TextLink to={paths.forgotPassword} className="text-sm">
              Forgot password?
            </TextLink>
          }
          {...form.field('password')}
        />

        <Button type="submit" size="lg" className="mt-2" aria-disabled={form.submitting}>
          {form.submitting ? <Spinner /> : <LogIn />}
          {form.submitting ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
    </AuthCard>
  )
}
