import { ArrowRight, Building2, LockKeyhole, RotateCw, ServerCrash } from 'lucide-react'
import type { ReactNode } from 'react'
import { Link } from 'react-router'

import { Button } from '@/components/ui/button'
import {
  Card,
  CardContent,
  CardDescription,
  CardFooter,
  CardHeader,
  CardTitle,
} from '@/components/ui/card'
import { Skeleton } from '@/components/ui/skeleton'
import { paths, signedInHome } from '@/config/paths'
import { useServerInfo, type ServerInfo } from '@/features/server-info/api/get-server-info'
import { useAuthState } from '@/lib/auth/use-auth'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { cn } from '@/lib/utils'

const cardClassName = 'w-full max-w-xl'

/** The first thing people see: which server this is, what Parley is, and where to sign in. */
export function ServerWelcome() {
  const { data, error, isPending, isFetching, refetch } = useServerInfo()

  if (isPending) return <ServerWelcomeSkeleton />
  // A failed background refresh keeps the data we already have on screen.
  if (data === undefined) {
    return (
      <ServerWelcomeError
        error={error}
        retrying={isFetching}
        onRetry={() => {
          void refetch()
        }}
      />
    )
  }
  return <ServerWelcomeCard info={data} />
}

function ServerWelcomeCard({ info }: { info: ServerInfo }) {
  return (
    <Card className={cardClassName}>
      <CardHeader className="gap-3">
        <p className="text-sm font-medium text-primary">Welcome to</p>
        <CardTitle asHeading="h1" className="text-3xl break-words sm:text-4xl">
          <span data-testid="server-name">{info.serverName}</span>
        </CardTitle>
        <CardDescription className="text-base">
          Parley is end-to-end encrypted messaging for your organisation, federated with other
          organisations.
        </CardDescription>
      </CardHeader>

      <CardContent>
        <ul className="grid gap-3 sm:grid-cols-2">
          <Feature icon={<LockKeyhole />} title="Private by design">
            Messages are encrypted on your devices. Servers pass them on without being able to read
            them.
          </Feature>
          <Feature icon={<Building2 />} title="Federated">
            Your organisation runs this server and talks to other organisations&apos; servers
            directly.
          </Feature>
        </ul>
      </CardContent>

      <CardFooter className="flex-col-reverse items-stretch gap-4 border-t pt-6 sm:flex-row sm:items-center sm:justify-between">
        <p className="text-center text-xs text-muted-foreground sm:text-left">
          Parley server version{' '}
          <span data-testid="server-version" className="font-mono">
            {info.version}
          </span>
        </p>
        <PrimaryAction />
      </CardFooter>
    </Card>
  )
}

/** Sign in, or, for someone already signed in, on to their home. */
function PrimaryAction() {
  const { status } = useAuthState()
  // Until the session is restored we do not know which button to show; keep its place.
  if (status === 'restoring') return <Skeleton className="h-11 w-40" />
  const signedIn = status === 'signed-in'
  return (
    <Button asChild size="lg">
      <Link to={signedIn ? signedInHome : paths.signIn}>
        {signedIn ? 'Go to your profile' : 'Sign in'}
        <ArrowRight />
      </Link>
    </Button>
  )
}

function Feature({
  icon,
  title,
  children,
}: {
  icon: ReactNode
  title: string
  children: ReactNode
}) {
  return (
    <li className="flex gap-3 rounded-lg border bg-muted/40 p-3">
      <span className="mt-0.5 text-primary [&_svg]:size-5" aria-hidden="true">
        {icon}
      </span>
      <span className="grid content-start gap-0.5">
        <span className="text-sm font-medium">{title}</span>
        <span className="text-sm text-muted-foreground">{children}</span>
      </span>
    </li>
  )
}

function ServerWelcomeSkeleton() {
  return (
    <Card className={cardClassName} aria-busy="true">
      <p role="status" className="sr-only">
        Loading server information…
      </p>
      <CardHeader className="gap-3">
        <Skeleton className="h-4 w-24" />
        <Skeleton className="h-10 w-3/4" />
        <Skeleton className="h-4 w-full" />
        <Skeleton className="h-4 w-2/3" />
      </CardHeader>
      <CardContent className="grid gap-3 sm:grid-cols-2">
        <Skeleton className="h-20" />
        <Skeleton className="h-20" />
      </CardContent>
      <CardFooter className="justify-between gap-4 border-t pt-6">
        <Skeleton className="h-4 w-32" />
        <Skeleton className="h-11 w-28" />
      </CardFooter>
    </Card>
  )
}

function ServerWelcomeError({
  error,
  retrying,
  onRetry,
}: {
  error: unknown
  retrying: boolean
  onRetry: () => void
}) {
  const { title, detail } = describeApiFailure(error)
  return (
    <Card className={cn(cardClassName, 'border-destructive/40')} role="alert">
      <CardHeader className="justify-items-start gap-3">
        <span className="rounded-full bg-destructive/10 p-2.5 text-destructive" aria-hidden="true">
          <ServerCrash className="size-6" />
        </span>
        <CardTitle asHeading="h1" className="text-2xl">
          {title}
        </CardTitle>
        <CardDescription className="text-base">
          Parley could not load this server&apos;s details. {detail}
        </CardDescription>
      </CardHeader>
      <CardFooter>
        {/* aria-disabled rather than disabled: keeps keyboard focus on the button while retrying. */}
        <Button
          onClick={() => {
            if (!retrying) onRetry()
          }}
          aria-disabled={retrying}
        >
          <RotateCw className={cn(retrying && 'animate-spin motion-reduce:animate-none')} />
          {retrying ? 'Retrying…' : 'Retry'}
        </Button>
      </CardFooter>
    </Card>
  )
}
