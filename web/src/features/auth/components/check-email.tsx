import { MailCheck, Send } from 'lucide-react'
import { toast } from 'sonner'

import { Button } from '@/components/ui/button'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { TextLink } from '@/components/ui/text-link'
import { paths } from '@/config/paths'
import { useResendVerification } from '@/features/auth/api/resend-verification'
import { AuthCard } from '@/features/auth/components/auth-card'
import { emailFormSchema } from '@/features/auth/schemas'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/** Router state of the check-email page: the address the link went to. */
export interface CheckEmailState {
  email?: string
}

/** The server answers the same whatever it found, and so do we. */
function toastResent(email: string) {
  toast('Check your inbox', {
    id: 'verification-resent',
    description: `If ${email} is waiting to be confirmed, a new link is on its way. Links can be sent once a minute.`,
  })
}

function toastResendFailed(error: unknown) {
  toast.error('Could not send a new link', { description: placeSubmitFailure(error).message })
}

/**
 * After sign-up: "we sent a link to <email>", with a way to send it again. Without a known
 * address (a reload, or coming from sign-in with a username), it asks for the address.
 */
export function CheckEmail({ email }: { email?: string | undefined }) {
  const resend = useResendVerification()

  if (email === undefined) return <RequestVerificationLink />

  return (
    <AuthCard
      icon={<MailCheck />}
      title="Check your email"
      description={
        <>
          We sent a link to{' '}
          <strong
            className="font-medium break-all text-foreground"
            data-testid="check-email-address"
          >
            {email}
          </strong>
          . Open it to confirm your address, then sign in.
        </>
      }
      footer={
        <p>
          Confirmed already? <TextLink to={paths.signIn}>Sign in</TextLink>
        </p>
      }
    >
      <p className="text-sm text-muted-foreground">
        No mail after a few minutes? Look in your spam folder, or send the link again.
      </p>
      <Button
        variant="outline"
        aria-disabled={resend.isPending}
        onClick={() => {
          if (resend.isPending) return
          resend.mutate(
            { email },
            {
              onSuccess: () => {
                toastResent(email)
              },
              onError: toastResendFailed,
            },
          )
        }}
      >
        {resend.isPending ? <Spinner /> : <Send />}
        {resend.isPending ? 'Sending…' : 'Send the link again'}
      </Button>
    </AuthCard>
  )
}

function RequestVerificationLink() {
  const resend = useResendVerification()
  const form = useForm({
    schema: emailFormSchema,
    initialValues: { email: '' },
    onSubmit: async ({ email }) => {
      try {
        await resend.mutateAsync({ email })
      } catch (error) {
        form.showFailure(placeSubmitFailure(error))
        return
      }
      toastResent(email)
    },
  })

  return (
    <AuthCard
      icon={<MailCheck />}
      title="Confirm your email address"
      description="Enter the address you signed up with and we will send you a new link to confirm it."
      footer={
        <p>
          Confirmed already? <TextLink to={paths.signIn}>Sign in</TextLink>
        </p>
      }
    >
      <form {...form.formProps} className="grid gap-4" aria-label="Send a new link">
        {form.formError !== undefined && (
          <p role="alert" className="text-sm text-destructive">
            {form.formError}
          </p>
        )}
        <FormField
          label="Email"
          type="email"
          autoComplete="email"
          required
          {...form.field('email')}
        />
        <Button type="submit" aria-disabled={form.submitting}>
          {form.submitting ? <Spinner /> : <Send />}
          {form.submitting ? 'Sending…' : 'Send a new link'}
        </Button>
      </form>
    </AuthCard>
  )
}
