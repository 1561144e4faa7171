import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { useDocumentTitle } from '@/lib/use-document-title'

/**
 * Title the browser tab "<page> · <server name> · Parley", leaving out parts not known (yet),
 * so people with tabs open on several organisations' servers can tell them apart.
 */
export function useServerPageTitle(page?: string): void {
  const { data } = useServerInfo()
  const parts = [page, data?.serverName, 'Parley'].filter((part) => part !== undefined)
  useDocumentTitle(parts.join(' · '))
}
