import { ArrowLeft } from 'lucide-react'
import { Link, useLocation } from 'react-router'

import { Button } from '@/components/ui/button'
import {
  Card,
  CardContent,
  CardDescription,
  CardFooter,
  CardHeader,
  CardTitle,
} from '@/components/ui/card'
import { paths } from '@/config/paths'
import { useServerPageTitle } from '@/features/server-info/hooks/use-server-page-title'

export function NotFoundRoute() {
  useServerPageTitle('Page not found')
  const { pathname } = useLocation()

  return (
    <Card className="w-full max-w-md" data-testid="not-found">
      <CardHeader>
        <p className="font-mono text-sm font-medium text-primary">404</p>
        <CardTitle asHeading="h1" className="text-2xl">
          Page not found
        </CardTitle>
        <CardDescription>There is nothing at this address in Parley.</CardDescription>
      </CardHeader>
      <CardContent>
        <p className="truncate rounded-md bg-muted px-3 py-2 font-mono text-sm" title={pathname}>
          {pathname}
        </p>
      </CardContent>
      <CardFooter>
        <Button asChild>
          <Link to={paths.home}>
            <ArrowLeft />
            Go to the home page
          </Link>
        </Button>
      </CardFooter>
    </Card>
  )
}
