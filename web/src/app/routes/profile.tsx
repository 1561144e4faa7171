import { AccountProfile } from '@/features/account/components/account-profile'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function ProfileRoute() {
  useServerPageTitle('Profile')
  return <AccountProfile />
}
