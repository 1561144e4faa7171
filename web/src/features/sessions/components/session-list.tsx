import { LogOut, MonitorSmartphone, ShieldAlert } from 'lucide-react'
import { useEffect, useId, useRef, useState, type ReactNode } from 'react'
import { toast } from 'sonner'

import { LoadFailedCard } from '@/components/layout/load-failed-card'
import { LoadingCard } from '@/components/layout/loading-card'
import { Alert, AlertDescription, AlertTitle } from '@/components/ui/alert'
import { Badge } from '@/components/ui/badge'
import { Button } from '@/components/ui/button'
import {
  Card,
  CardContent,
  CardDescription,
  CardFooter,
  CardHeader,
  CardTitle,
} from '@/components/ui/card'
import { Spinner } from '@/components/ui/spinner'
import { useEndOtherSessions } from '@/features/sessions/api/end-other-sessions'
import { useEndSession } from '@/features/sessions/api/end-session'
import { useSessions, type SessionInfo } from '@/features/sessions/api/get-sessions'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { formatDateTime, formatTimeAgo } from '@/lib/format'

function deviceLabel(session: SessionInfo): string {
  return session.device_name ?? 'Unnamed device'
}

/** The signed-in user's sessions, with ways to sign out the other ones. */
export function SessionList() {
  const { data, error, isPending, isFetching, refetch } = useSessions()

  if (isPending) return <LoadingCard label="Loading your sessions…" className="max-w-none" />
  if (data === undefined) {
    return (
      <LoadFailedCard
        what="Your sessions"
        error={error}
        retrying={isFetching}
        onRetry={() => void refetch()}
      />
    )
  }

  const others = data.filter((session) => !session.current).length

  return (
    <Card>
      <CardHeader>
        <CardTitle asHeading="h1" className="text-2xl">
          Sessions
        </CardTitle>
        <CardDescription>
          Where your account is signed in. Sign out any session you do not recognise, and change
          your password if you think someone else knows it.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <ul className="grid gap-3" aria-label="Sessions">
          {data.map((session) => (
            <SessionItem key={session.session_id} session={session} />
          ))}
        </ul>
      </CardContent>
      <CardFooter className="border-t pt-6">
        <EndOtherSessions count={others} />
      </CardFooter>
    </Card>
  )
}

function SessionItem({ session }: { session: SessionInfo }) {
  const endSession = useEndSession()
  const label = deviceLabel(session)
  const ending = endSession.isPending

  return (
    <li
      className="grid gap-3 rounded-lg border bg-muted/30 p-4 sm:grid-cols-[1fr_auto] sm:items-start"
      data-testid="session"
      data-current={session.current || undefined}
    >
      <div className="grid min-w-0 gap-2">
        <div className="flex flex-wrap items-center gap-2">
          <MonitorSmartphone className="size-4 text-muted-foreground" aria-hidden="true" />
          <p className="font-medium break-words">{label}</p>
          {session.current && <Badge variant="success">This device</Badge>}
        </div>
        <dl className="grid grid-cols-[max-content_minmax(0,1fr)] gap-x-3 gap-y-1 text-sm">
          <Fact term="Device id">
            <span className="font-mono">{session.device_id}</span>
          </Fact>
          <Fact term="Signed in">
            <time dateTime={session.created_at}>{formatDateTime(session.created_at)}</time>
          </Fact>
          <Fact term="Last active">
            {session.current ? (
              'Now'
            ) : (
              <time dateTime={session.last_seen_at} title={formatDateTime(session.last_seen_at)}>
                {formatTimeAgo(session.last_seen_at)}
              </time>
            )}
          </Fact>
          <Fact term="IP address">
            <span className="font-mono">{session.ip ?? 'Unknown'}</span>
          </Fact>
          <Fact term="Browser">
            <span className="block truncate" title={session.user_agent ?? undefined}>
              {session.user_agent ?? 'Unknown'}
            </span>
          </Fact>
        </dl>
      </div>
      {!session.current && (
        <Button
          variant="outline"
          size="sm"
          className="justify-self-start"
          aria-label={`Sign out ${label} (device ${session.device_id})`}
          aria-disabled={ending}
          onClick={() => {
            if (ending) return
            endSession.mutate(session.session_id, {
              onSuccess: () => {
                toast.success(`Signed out ${label}`)
              },
              onError: (error) => {
                toast.error(`Could not sign out ${label}`, {
                  description: describeApiFailure(error).detail,
                })
              },
            })
          }}
        >
          {ending ? <Spinner /> : <LogOut />}
          {ending ? 'Signing out…' : 'Sign out'}
        </Button>
      )}
    </li>
  )
}

function Fact({ term, children }: { term: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-muted-foreground">{term}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </>
  )
}

/** "Sign out all other sessions", asking for confirmation first. */
function EndOtherSessions({ count }: { count: number }) {
  const endOthers = useEndOtherSessions()
  const [confirming, setConfirming] = useState(false)
  const titleId = useId()
  const triggerRef = useRef<HTMLButtonElement>(null)
  const cancelRef = useRef<HTMLButtonElement>(null)
  // Where focus goes when the confirmation closes; only after it was open.
  const wasConfirming = useRef(false)

  useEffect(() => {
    if (confirming) cancelRef.current?.focus()
    else if (wasConfirming.current) triggerRef.current?.focus()
    wasConfirming.current = confirming
  }, [confirming])

  if (count === 0) {
    return <p className="text-sm text-muted-foreground">You are not signed in anywhere else.</p>
  }

  const plural = count === 1 ? 'session' : 'sessions'

  if (!confirming) {
    return (
      <Button
        ref={triggerRef}
        variant="outline"
        onClick={() => {
          setConfirming(true)
        }}
      >
        <ShieldAlert />
        Sign out all other sessions
      </Button>
    )
  }

  return (
    <Alert variant="destructive" role="group" aria-labelledby={titleId}>
      <ShieldAlert aria-hidden="true" />
      <AlertTitle id={titleId}>
        Sign out {count} other {plural}?
      </AlertTitle>
      <AlertDescription>
        <p className="text-foreground">
          Every device and browser but this one will have to sign in again.
        </p>
        <div className="flex flex-wrap gap-2 pt-1">
          <Button
            variant="destructive"
            aria-disabled={endOthers.isPending}
            onClick={() => {
              if (endOthers.isPending) return
              endOthers.mutate(undefined, {
                onSuccess: ({ ended }) => {
                  setConfirming(false)
                  toast.success(
                    ended === 1 ? 'Signed out 1 session' : `Signed out ${String(ended)} sessions`,
                  )
                },
                onError: (error) => {
                  toast.error('Could not sign out the other sessions', {
                    description: describeApiFailure(error).detail,
                  })
                },
              })
            }}
          >
            {endOthers.isPending ? <Spinner /> : <LogOut />}
            {endOthers.isPending ? 'Signing out…' : `Sign out ${String(count)} ${plural}`}
          </Button>
          <Button
            ref={cancelRef}
            variant="outline"
            onClick={() => {
              setConfirming(false)
            }}
          >
            Cancel
          </Button>
        </div>
      </AlertDescription>
    </Alert>
  )
}
