import { Skeleton } from '@/components/ui/skeleton'
import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { cn } from '@/lib/utils'

/** Compact "which server is this" indicator for the top bar. */
export function ServerBadge({ className }: { className?: string }) {
  const { data, isPending, isError } = useServerInfo()

  if (isPending) return <Skeleton className={cn('h-7 w-36 rounded-full', className)} />

  // Red while the latest fetch failed, even if an earlier one gave us the name.
  const online = !isError
  return (
    <p
      className={cn(
        'inline-flex max-w-[55vw] min-w-0 items-center gap-2 rounded-full border bg-card px-3 py-1 text-sm shadow-xs sm:max-w-xs',
        className,
      )}
    >
      <span
        aria-hidden="true"
        className={cn('size-2 shrink-0 rounded-full', online ? 'bg-success' : 'bg-destructive')}
      />
      {data ? (
        <>
          <span className="sr-only">Server: </span>
          <span className="truncate font-medium" title={data.serverName}>
            {data.serverName}
          </span>
        </>
      ) : (
        <span className="font-medium">Server unavailable</span>
      )}
    </p>
  )
}
