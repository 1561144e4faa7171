import { CircleAlert, Mail, MailCheck } from 'lucide-react'
import { useState } from 'react'
import { toast } from 'sonner'

import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { useChangeEmail } from '@/features/account/api/change-email'
import { changeEmailFormSchema } from '@/features/account/schemas'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

const EMPTY = { new_email: '', password: '' }

/** Start a change of address: the new one must be confirmed through the link mailed to it. */
export function ChangeEmailForm({ currentEmail }: { currentEmail: string }) {
  const change = useChangeEmail()
  const [pending, setPending] = useState<string>()
  const form = useForm({
    schema: changeEmailFormSchema,
    initialValues: EMPTY,
    onSubmit: async ({ new_email, password }) => {
      try {
        await change.mutateAsync({ new_email, password })
      } catch (error) {
        form.showFailure(
          placeSubmitFailure(error, { M_FORBIDDEN: 'password', M_INVALID_PARAM: 'new_email' }),
        )
        return
      }
      form.reset(EMPTY)
      setPending(new_email)
      toast('Check your new address', {
        description: `We sent a link to ${new_email}. Open it to complete the change.`,
      })
    },
  })

  return (
    <Card>
      <CardHeader>
        <CardTitle>Email address</CardTitle>
        <CardDescription>
          Your address is <span className="font-medium text-foreground">{currentEmail}</span>. A new
          address takes effect once you open the link we send to it.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4">
        {pending !== undefined && (
          <Alert variant="info" role="status" data-testid="email-change-pending">
            <MailCheck aria-hidden="true" />
            <AlertTitle>Check the new address</AlertTitle>
            <AlertDescription>
              <p>
                We sent a link to <strong className="font-medium break-all">{pending}</strong>.
                Until you open it, {currentEmail} stays your address.
              </p>
            </AlertDescription>
          </Alert>
        )}
        <form {...form.formProps} className="grid gap-4" aria-label="Change email address">
          {form.formError !== undefined && (
            <Alert variant="destructive" role="alert">
              <CircleAlert aria-hidden="true" />
              <AlertDescription>
                <p>{form.formError}</p>
              </AlertDescription>
            </Alert>
          )}
          <FormField
            label="New email address"
            type="email"
            autoComplete="email"
            required
            {...form.field('new_email')}
          />
          <FormField
            label="Password"
            type="password"
            autoComplete="current-password"
            required
            description="To confirm it is you."
            {...form.field('password')}
          />
          <Button type="submit" className="justify-self-start" aria-disabled={form.submitting}>
            {form.submitting ? <Spinner /> : <Mail />}
            {form.submitting ? 'Sending link…' : 'Change email'}
          </Button>
        </form>
      </CardContent>
    </Card>
  )
}
