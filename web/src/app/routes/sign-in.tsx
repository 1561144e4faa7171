import { ArrowLeft, Info } from 'lucide-react'
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
import { paths } from '@/config/paths'
import { useServerInfo } from '@/features/server-info/api/get-server-info'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

// Placeholder until accounts exist: says so plainly instead of showing a form that cannot work.
export function SignInRoute() {
  useServerPageTitle('Sign in')
  const { data, isPending } = useServerInfo()

  return (
    <Card className="w-full max-w-md">
      <CardHeader>
        <CardTitle asHeading="h1" className="text-2xl">
          Sign in
        </CardTitle>
        {isPending ? (
          <Skeleton className="h-5 w-48" />
        ) : (
          <CardDescription>to {data?.serverName ?? 'this Parley server'}</CardDescription>
        )}
      </CardHeader>
      <CardContent>
        <div
          className="flex gap-3 rounded-lg border border-primary/25 bg-accent/60 p-4 text-sm text-accent-foreground"
          data-testid="sign-in-unavailable"
        >
          <Info className="mt-0.5 size-5 shrink-0" aria-hidden="true" />
          <div className="grid gap-1">
            <p className="font-medium">This server does not accept sign-ins yet.</p>
            <p>
              Parley is at an early stage: accounts come with the next milestone. Until then there
              are no accounts here to sign in to.
            </p>
          </div>
        </div>
      </CardContent>
      <CardFooter>
        <Button asChild variant="outline">
          <Link to={paths.home}>
            <ArrowLeft />
            Back to home
          </Link>
        </Button>
      </CardFooter>
    </Card>
  )
}
