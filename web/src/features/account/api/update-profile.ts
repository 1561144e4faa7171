import { useMutation, useQueryClient } from '@tanstack/react-query'

import { myProfileSchema, profileQueryKey } from '@/features/account/api/get-profile'
import type { ApiSchemas } from '@/lib/api/types'
import type { AuthSession } from '@/lib/auth/auth-session'
import { useAuthSession } from '@/lib/auth/use-auth'

export type UpdateProfileInput = ApiSchemas['UpdateProfileRequest']

/**
 * `PATCH /api/v1/account/profile`: absent fields stay as they are; an empty display name removes
 * it. Answers with the updated profile.
 */
export function updateProfile(session: AuthSession, body: UpdateProfileInput) {
  return session.request('/account/profile', { method: 'PATCH', body, schema: myProfileSchema })
}

export function useUpdateProfile() {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (body: UpdateProfileInput) => updateProfile(session, body),
    onSuccess: (profile) => {
      queryClient.setQueryData(profileQueryKey, profile)
    },
  })
}
