import { SessionList } from '@/features/sessions/components/session-list'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function SessionsRoute() {
  useServerPageTitle('Sessions')
  return <SessionList />
}
