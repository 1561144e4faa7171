import { LoadFailedCard } from '@/components/layout/load-failed-card'
import { LoadingCard } from '@/components/layout/loading-card'
import { useProfile } from '@/features/account/api/get-profile'
import { ChangeEmailForm } from '@/features/account/components/change-email-form'
import { ChangePasswordForm } from '@/features/account/components/change-password-form'
import { EditProfileForm } from '@/features/account/components/edit-profile-form'
import { ProfileDetails } from '@/features/account/components/profile-details'

/** The profile page: who you are, and the forms to change names, password and address. */
export function AccountProfile() {
  const { data, error, isPending, isFetching, refetch } = useProfile()

  if (isPending) return <LoadingCard label="Loading your profile…" className="max-w-none" />
  if (data === undefined) {
    return (
      <LoadFailedCard
        what="Your profile"
        error={error}
        retrying={isFetching}
        onRetry={() => void refetch()}
      />
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
