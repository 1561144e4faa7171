import { CircleAlert, KeyRound } from 'lucide-react'
import { toast } from 'sonner'

import { Alert, AlertDescription } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { useChangePassword } from '@/features/account/api/change-password'
import { changePasswordFormSchema } from '@/features/account/schemas'
import { PASSWORD_MAX, PASSWORD_MIN } from '@/lib/forms/rules'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

const EMPTY = { current_password: '', new_password: '', confirm: '' }

/** Change the password; the server signs out every other session. */
export function ChangePasswordForm({ userId }: { userId: string }) {
  const change = useChangePassword()
  const form = useForm({
    schema: changePasswordFormSchema,
    initialValues: EMPTY,
    onSubmit: async ({ current_password, new_password }) => {
      try {
        await change.mutateAsync({ current_password, new_password })
      } catch (error) {
        form.showFailure(
          placeSubmitFailure(error, {
            M_FORBIDDEN: 'current_password',
            M_WEAK_PASSWORD: 'new_password',
          }),
        )
        return
      }
      form.reset(EMPTY)
      toast.success('Password changed', {
        description: 'Your other sessions were signed out. This one stays signed in.',
      })
    },
  })

  return (
    <Card>
      <CardHeader>
        <CardTitle>Password</CardTitle>
        <CardDescription>
          Changing your password signs you out on every other device and browser.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form {...form.formProps} className="grid gap-4" aria-label="Change password">
          {/* Lets password managers file the new password under the right account. */}
          <input
            type="text"
            name="username"
            autoComplete="username"
            value={userId}
            readOnly
            hidden
          />
          {form.formError !== undefined && (
            <Alert variant="destructive" role="alert">
              <CircleAlert aria-hidden="true" />
              <AlertDescription>
                <p>{form.formError}</p>
              </AlertDescription>
            </Alert>
          )}
          <FormField
            label="Current password"
            type="password"
            autoComplete="current-password"
            required
            {...form.field('current_password')}
          />
          <FormField
            label="New password"
            type="password"
            autoComplete="new-password"
            required
            description={`${String(PASSWORD_MIN)} to ${String(PASSWORD_MAX)} characters; not a common password.`}
            {...form.field('new_password')}
          />
          <FormField
            label="Confirm new password"
            type="password"
            autoComplete="new-password"
            required
            {...form.field('confirm')}
          />
          <Button type="submit" className="justify-self-start" aria-disabled={form.submitting}>
            {form.submitting ? <Spinner /> : <KeyRound />}
            {form.submitting ? 'Changing…' : 'Change password'}
          </Button>
        </form>
      </CardContent>
    </Card>
  )
}
