import { RotateCw } from 'lucide-react'
import { isRouteErrorResponse, useRouteError } from 'react-router'

import { ParleyLogo } from '@/components/brand/parley-logo'
import { Button } from '@/components/ui/button'
import { Card, CardDescription, CardFooter, CardHeader, CardTitle } from '@/components/ui/card'
import { useDocumentTitle } from '@/lib/use-document-title'

/**
 * Last line of defence when rendering a route throws. Deliberately self-contained (no server
 * info, no shell): whatever broke may be part of those.
 */
export function RouteError() {
  useDocumentTitle('Error · Parley')
  const error = useRouteError()
  const detail = isRouteErrorResponse(error)
    ? `${String(error.status)} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : undefined

  return (
    <main className="flex min-h-dvh flex-col items-center justify-center gap-8 px-4 py-10">
      <ParleyLogo />
      <Card className="w-full max-w-md" role="alert">
        <CardHeader>
          <CardTitle asHeading="h1" className="text-2xl">
            Something went wrong
          </CardTitle>
          <CardDescription>
            Parley hit an unexpected problem showing this page. Reloading usually helps.
          </CardDescription>
          {detail !== undefined && (
            <p className="mt-2 rounded-md bg-muted px-3 py-2 font-mono text-xs break-words">
              {detail}
            </p>
          )}
        </CardHeader>
        <CardFooter>
          <Button
            onClick={() => {
              window.location.reload()
            }}
          >
            <RotateCw />
            Reload
          </Button>
        </CardFooter>
      </Card>
    </main>
  )
}
