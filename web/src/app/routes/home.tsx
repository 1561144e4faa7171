import { ServerWelcome } from '@/features/server-info/components/server-welcome'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function HomeRoute() {
  useServerPageTitle()
  return <ServerWelcome />
}
