import { RotateCw } from 'lucide-react'

import { LoadingCard } from '@/components/layout/loading-card'
import { Button } from '@/components/ui/button'
import { Card, CardDescription, CardFooter, CardHeader, CardTitle } from '@/components/ui/card'
import { useProfile } from '@/features/account/api/get-profile'
import { ChangeEmailForm } from '@/features/account/components/change-email-form'
import { ChangePasswordForm } from '@/features/account/components/change-password-form'
import { EditProfileForm } from '@/features/account/components/edit-profile-form'
import { ProfileDetails } from '@/features/account/components/profile-details'
import { describeApiFailure } from '@/lib/describe-api-failure'

/** The profile page: who you are, and the forms to change names, password and address. */
export function AccountProfile() {
  const { data, error, isPending, isFetching, refetch } = useProfile()

  if (isPending) return <LoadingCard label="Loading your profile…" className="max-w-none" />
  if (data === undefined) {
    const { title, detail } = describeApiFailure(error)
    return (
      <Card role="alert">
        <CardHeader>
          <CardTitle asHeading="h1" className="text-2xl">
            {title}
          </CardTitle>
          <CardDescription>Your profile could not be loaded. {detail}</CardDescription>
        </CardHeader>
        <CardFooter>
          <Button
            aria-disabled={isFetching}
            onClick={() => {
              if (!isFetching) void refetch()
            }}
          >
            <RotateCw />
            Retry
          </Button>
        </CardFooter>
      </Card>
    )
  }

  return (
    <div className="grid gap-6">
      <ProfileDetails profile={data} />
      <EditProfileForm profile={data} />
      <ChangePasswordForm userId={data.user_id} />
      <ChangeEmailForm currentEmail={data.email} />
    </div>
  )
}
