import { CircleAlert, KeyRound, MailCheck, Send } from 'lucide-react'
import { useState } from 'react'

import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { TextLink } from '@/components/ui/text-link'
import { paths } from '@/config/paths'
import { useForgotPassword } from '@/features/auth/api/forgot-password'
import { AuthCard } from '@/features/auth/components/auth-card'
import { emailFormSchema } from '@/features/auth/schemas'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/**
 * Asks for a password reset link. The answer never says whether the address has an account,
 * so neither does this page.
 */
export function ForgotPasswordForm() {
  const forgot = useForgotPassword()
  const [sentTo, setSentTo] = useState<string>()

  const form = useForm({
    schema: emailFormSchema,
    initialValues: { email: '' },
    onSubmit: async ({ email }) => {
      try {
        await forgot.mutateAsync({ email })
      } catch (error) {
        form.showFailure(placeSubmitFailure(error))
        return
      }
      setSentTo(email)
    },
  })

  const backToSignIn = (
    <p>
      Remembered it? <TextLink to={paths.signIn}>Sign in</TextLink>
    </p>
  )

  if (sentTo !== undefined) {
    return (
      <AuthCard
        role="status"
        icon={<MailCheck />}
        title="Check your email"
        description={
          <>
            If an account uses{' '}
            <strong className="font-medium break-all text-foreground">{sentTo}</strong>, we sent it
            a link to choose a new password. The link works once and expires after a while.
          </>
        }
        footer={backToSignIn}
      >
        <Button
          variant="outline"
          onClick={() => {
            setSentTo(undefined)
            form.reset({ email: sentTo })
          }}
        >
          Use another address
        </Button>
      </AuthCard>
    )
  }

  return (
    <AuthCard
      icon={<KeyRound />}
      title="Forgot your password?"
      description="Enter your account's email address and we will send you a link to choose a new password."
      footer={backToSignIn}
    >
      <form {...form.formProps} className="grid gap-4" aria-label="Reset your password">
        {form.formError !== undefined && (
          <Alert variant="destructive" role="alert">
            <CircleAlert aria-hidden="true" />
            <AlertTitle>Could not send the link</AlertTitle>
            <AlertDescription>
              <p>{form.formError}</p>
            </AlertDescription>
          </Alert>
        )}
        <FormField
          label="Email"
          type="email"
          autoComplete="email"
          required
          {...form.field('email')}
        />
        <Button type="submit" size="lg" aria-disabled={form.submitting}>
          {form.submitting ? <Spinner /> : <Send />}
          {form.submitting ? 'Sending…' : 'Send reset link'}
        </Button>
      </form>
    </AuthCard>
  )
}
