import { CircleAlert, Save } from 'lucide-react'
import { toast } from 'sonner'

import { Alert, AlertDescription } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import type { MyProfile } from '@/features/account/api/get-profile'
import { useUpdateProfile } from '@/features/account/api/update-profile'
import { editProfileFormSchema } from '@/features/account/schemas'
import { DISPLAY_NAME_MAX } from '@/lib/forms/rules'
import { placeSubmitFailure } from '@/lib/forms/server-errors'
import { useForm } from '@/lib/forms/use-form'

/** Edit the full name and the display name (empty removes it). */
export function EditProfileForm({ profile }: { profile: MyProfile }) {
  const update = useUpdateProfile()
  const form = useForm({
    schema: editProfileFormSchema,
    initialValues: { full_name: profile.full_name, display_name: profile.display_name ?? '' },
    onSubmit: async (data) => {
      let saved: MyProfile
      try {
        saved = await update.mutateAsync(data)
      } catch (error) {
        form.showFailure(placeSubmitFailure(error))
        return
      }
      form.reset({ full_name: saved.full_name, display_name: saved.display_name ?? '' })
      toast.success('Profile saved')
    },
  })

  return (
    <Card>
      <CardHeader>
        <CardTitle>Names</CardTitle>
        <CardDescription>How you appear to others in conversations.</CardDescription>
      </CardHeader>
      <CardContent>
        <form {...form.formProps} className="grid gap-4" aria-label="Names">
          {form.formError !== undefined && (
            <Alert variant="destructive" role="alert">
              <CircleAlert aria-hidden="true" />
              <AlertDescription>
                <p>{form.formError}</p>
              </AlertDescription>
            </Alert>
          )}
          <FormField label="Full name" autoComplete="name" required {...form.field('full_name')} />
          <FormField
            label="Display name"
            autoComplete="nickname"
            description={`Optional, at most ${String(DISPLAY_NAME_MAX)} characters. Leave it empty to be shown by your full name.`}
            {...form.field('display_name')}
          />
          <Button type="submit" className="justify-self-start" aria-disabled={form.submitting}>
            {form.submitting ? <Spinner /> : <Save />}
            {form.submitting ? 'Saving…' : 'Save names'}
          </Button>
        </form>
      </CardContent>
    </Card>
  )
}
