import { localpart, remoteServer } from '@/lib/ids'
import { cn } from '@/lib/utils'

/**
 * A user's name. Local users show as they always have (their address, or with `short` the
 * localpart); a user of another server shows the localpart and a muted badge with the server,
 * so that nobody mistakes `@bob:org-b.example` for the local bob.
 */
export function UserName({
  userId,
  me,
  short = false,
  className,
}: {
  userId: string
  me: string
  short?: boolean
  className?: string
}) {
  const server = remoteServer(userId, me)
  if (server === undefined) {
    return <span className={className}>{short ? localpart(userId) : userId}</span>
  }
  return (
    <span
      className={cn('inline-flex min-w-0 items-baseline gap-1', className)}
      title={userId}
      data-remote-server={server}
    >
      <span className="truncate">{localpart(userId)}</span>
      {/* Read out as "bob of org-b.example" rather than two words run together. */}
      <span className="sr-only"> of </span>
      <ServerBadge server={server} />
    </span>
  )
}

/** The muted tag that says which server a user or room belongs to. */
export function ServerBadge({ server, className }: { server: string; className?: string }) {
  return (
    <span
      className={cn(
        'shrink-0 rounded-sm bg-muted px-1 font-sans text-[0.7em] font-normal text-muted-foreground',
        className,
      )}
      data-testid="server-badge"
    >
      {server}
    </span>
  )
}
