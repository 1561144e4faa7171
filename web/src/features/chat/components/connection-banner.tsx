import { Spinner } from '@/components/ui/spinner'
import { useConnectionState } from '@/features/chat/hooks/use-connection-state'

/** Says so while the realtime connection is down; it catches up by itself once back. */
export function ConnectionBanner() {
  const state = useConnectionState()
  if (state !== 'reconnecting') return null
  return (
    <div
      role="status"
      className="flex items-center justify-center gap-2 border-b bg-amber-100 px-3 py-1.5 text-sm text-amber-950 dark:bg-amber-900/40 dark:text-amber-100"
    >
      <Spinner />
      Reconnecting…
    </div>
  )
}
