import type { ReactNode } from 'react'

import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import type { MyProfile } from '@/features/account/api/get-profile'
import { formatDateTime } from '@/lib/format'

/** Who the signed-in user is: ids, address and names. */
export function ProfileDetails({ profile }: { profile: MyProfile }) {
  return (
    <Card>
      <CardHeader>
        <CardTitle asHeading="h1" className="text-2xl">
          Your profile
        </CardTitle>
        <CardDescription>
          People on this server and on federated servers know you by your user id.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <dl className="grid gap-x-6 gap-y-4 text-sm sm:grid-cols-[max-content_1fr]">
          <Detail term="User id">
            <span className="font-mono" data-testid="profile-user-id">
              {profile.user_id}
            </span>
          </Detail>
          <Detail term="Email">
            <span data-testid="profile-email">{profile.email}</span>
          </Detail>
          <Detail term="Full name">
            <span data-testid="profile-full-name">{profile.full_name}</span>
          </Detail>
          <Detail term="Display name">
            {profile.display_name === null ? (
              <span className="text-muted-foreground" data-testid="profile-display-name">
                Not set: others see your full name
              </span>
            ) : (
              <span data-testid="profile-display-name">{profile.display_name}</span>
            )}
          </Detail>
          <Detail term="Member since">{formatDateTime(profile.created_at)}</Detail>
        </dl>
      </CardContent>
    </Card>
  )
}

function Detail({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="grid gap-1 sm:contents">
      <dt className="font-medium text-muted-foreground">{term}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </div>
  )
}
