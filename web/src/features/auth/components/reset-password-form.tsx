import { CircleAlert, KeyRound, LinkIcon, Send } from 'lucide-react'
import { Link, useNavigate } from 'react-router'
import { toast } from 'sonner'

import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { TextLink } from '@/components/ui/text-link'
import { paths } from '@/config/paths'
import { useResetPassword } from '@/features/auth/api/reset-password'
import { AuthCard } from '@/features/auth/components/auth-card'
import { resetPasswordFormSchema } from '@/features/auth/schemas'
import { hasErrcode } from '@/lib/api-client'
import { PASSWORD_MAX, PASSWORD_MIN } from '@/lib/forms/rules'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/** Chooses a new password with the token of an emailed reset link. */
export function ResetPasswordForm({ token }: { token: string | null }) {
  const reset = useResetPassword()
  const navigate = useNavigate()

  const form = useForm({
    schema: resetPasswordFormSchema,
    initialValues: { password: '', confirm: '' },
    onSubmit: async ({ password }) => {
      try {
        await reset.mutateAsync({ token: token ?? '', new_password: password })
      } catch (error) {
        form.showFailure(placeSubmitFailure(error, { M_WEAK_PASSWORD: 'password' }))
        return
      }
      toast.success('Your password was changed', {
        description: 'Every session of your account was signed out. Sign in with the new password.',
      })
      await navigate(paths.signIn, { replace: true })
    },
  })

  const requestNewLink = (
    <Button asChild variant="outline">
      <Link to={paths.forgotPassword}>
        <Send />
        Request a new link
      </Link>
    </Button>
  )

  if (token === null || token === '') {
    return (
      <AuthCard
        role="alert"
        icon={<LinkIcon />}
        title="This link is incomplete"
        description="The address has no reset token. Open the link from the email again, or ask for a new one."
        footer={requestNewLink}
      />
    )
  }

  // The form stays usable after a refusal of the link: the user sees why, and the way out.
  const linkRefused = hasErrcode(reset.error, 'M_UNKNOWN_TOKEN')

  return (
    <AuthCard
      icon={<KeyRound />}
      title="Choose a new password"
      description="Setting it signs out every session of your account, on every device."
      footer={
        <p>
          <TextLink to={paths.signIn}>Back to sign in</TextLink>
        </p>
      }
    >
      <form {...form.formProps} className="grid gap-4" aria-label="Choose a new password">
        {form.formError !== undefined && (
          <Alert variant="destructive" role="alert" data-testid="reset-password-error">
            <CircleAlert aria-hidden="true" />
            <AlertTitle>Could not change the password</AlertTitle>
            <AlertDescription>
              <p>{form.formError}</p>
              {linkRefused && <TextLink to={paths.forgotPassword}>Request a new link</TextLink>}
            </AlertDescription>
          </Alert>
        )}
        <FormField
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          description={`${String(PASSWORD_MIN)} to ${String(PASSWORD_MAX)} characters; not a common password.`}
          {...form.field('password')}
        />
        <FormField
          label="Confirm new password"
          type="password"
          autoComplete="new-password"
          required
          {...form.field('confirm')}
        />
        <Button type="submit" size="lg" aria-disabled={form.submitting}>
          {form.submitting ? <Spinner /> : <KeyRound />}
          {form.submitting ? 'Saving…' : 'Set new password'}
        </Button>
      </form>
    </AuthCard>
  )
}
