import { RotateCw } from 'lucide-react'

import { Button } from '@/components/ui/button'
import { Card, CardDescription, CardFooter, CardHeader, CardTitle } from '@/components/ui/card'
import { describeApiFailure } from '@/lib/describe-api-failure'

/**
 * A page-sized alert when a page's data could not be loaded: what went wrong, and a retry that
 * is inert while one is already running.
 */
function LoadFailedCard({
  what,
  error,
  retrying,
  onRetry,
}: {
  /** What could not be loaded, as it starts the sentence ("Your profile"). */
  what: string
  error: unknown
  retrying: boolean
  onRetry: () => void
}) {
  const { title, detail } = describeApiFailure(error)
  return (
    <Card role="alert">
      <CardHeader>
        <CardTitle asHeading="h1" className="text-2xl">
          {title}
        </CardTitle>
        <CardDescription>
          {what} could not be loaded. {detail}
        </CardDescription>
      </CardHeader>
      <CardFooter>
        <Button
          aria-disabled={retrying}
          onClick={() => {
            if (!retrying) onRetry()
          }}
        >
          <RotateCw />
          Retry
        </Button>
      </CardFooter>
    </Card>
  )
}

export { LoadFailedCard }
