import { CircleAlert, UserPlus } from 'lucide-react'
import { useNavigate } from 'react-router'

import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { TextLink } from '@/components/ui/text-link'
import { paths } from '@/config/paths'
import { useSignUp } from '@/features/auth/api/sign-up'
import { AuthCard } from '@/features/auth/components/auth-card'
import type { CheckEmailState } from '@/features/auth/components/check-email'
import { signUpFormSchema } from '@/features/auth/schemas'
import { PASSWORD_MAX, PASSWORD_MIN, usernameRule } from '@/lib/forms/rules'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/** Sign-up: creates the account, then sends the user to check their inbox. */
export function SignUpForm({ serverName }: { serverName?: string | undefined }) {
  const signUp = useSignUp()
  const navigate = useNavigate()

  const form = useForm({
    schema: signUpFormSchema,
    initialValues: { username: '', email: '', full_name: '', password: '', confirm: '' },
    onSubmit: async ({ username, email, full_name, password }) => {
      try {
        await signUp.mutateAsync({ username, email, full_name, password })
      } catch (error) {
        form.showFailure(
          placeSubmitFailure(error, {
            M_INVALID_USERNAME: 'username',
            M_USER_IN_USE: 'username',
            M_WEAK_PASSWORD: 'password',
          }),
        )
        return
      }
      const state: CheckEmailState = { email }
      await navigate(paths.checkEmail, { state })
    },
  })

  // Show the user id the username will make, as soon as it is a valid one.
  const username = usernameRule.safeParse(form.values.username)
  const userIdPreview =
    username.success && serverName !== undefined ? `@${username.data}:${serverName}` : undefined

  return (
    <AuthCard
      title="Create your account"
      description={serverName === undefined ? 'on this Parley server' : `on ${serverName}`}
      footer={
        <p>
          Already have an account? <TextLink to={paths.signIn}>Sign in</TextLink>
        </p>
      }
    >
      <form {...form.formProps} className="grid gap-4" aria-label="Create your account">
        {form.formError !== undefined && (
          <Alert variant="destructive" role="alert" data-testid="sign-up-error">
            <CircleAlert aria-hidden="true" />
            <AlertTitle>Could not create the account</AlertTitle>
            <AlertDescription>
              <p>{form.formError}</p>
            </AlertDescription>
          </Alert>
        )}

        <FormField
          label="Username"
          autoComplete="username"
          autoCapitalize="none"
          autoCorrect="off"
          spellCheck={false}
          required
          description={
            userIdPreview === undefined ? (
              'Letters a-z, digits and . _ = -'
            ) : (
              <>
                Your user id will be{' '}
                <span className="font-mono text-foreground" data-testid="user-id-preview">
                  {userIdPreview}
                </span>
              </>
            )
          }
          {...form.field('username')}
        />
        <FormField
          label="Email"
          type="email"
          autoComplete="email"
          required
          description="We send a link to this address to confirm it."
          {...form.field('email')}
        />
        <FormField label="Full name" autoComplete="name" required {...form.field('full_name')} />
        <FormField
          label="Password"
          type="password"
          autoComplete="new-password"
          required
          description={`${String(PASSWORD_MIN)} to ${String(PASSWORD_MAX)} characters; not a common password.`}
          {...form.field('password')}
        />
        <FormField
          label="Confirm password"
          type="password"
          autoComplete="new-password"
          required
          {...form.field('confirm')}
        />

        <Button type="submit" size="lg" className="mt-2" aria-disabled={form.submitting}>
          {form.submitting ? <Spinner /> : <UserPlus />}
          {form.submitting ? 'Creating account…' : 'Create account'}
        </Button>
      </form>
    </AuthCard>
  )
}
