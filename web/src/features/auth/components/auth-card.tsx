import type { ReactNode } from 'react'

import {
  Card,
  CardContent,
  CardDescription,
  CardFooter,
  CardHeader,
  CardTitle,
} from '@/components/ui/card'
import { cn } from '@/lib/utils'

interface AuthCardProps {
  title: ReactNode
  description?: ReactNode
  /** An icon above the title, e.g. for outcomes (sent, confirmed, failed). */
  icon?: ReactNode
  children?: ReactNode
  footer?: ReactNode
  className?: string
  role?: 'alert' | 'status'
}

/** The card that frames each sign-in, sign-up and recovery page. */
export function AuthCard({
  title,
  description,
  icon,
  children,
  footer,
  className,
  role,
}: AuthCardProps) {
  return (
    <Card className={cn('w-full max-w-md', className)} role={role}>
      <CardHeader className="justify-items-start gap-2">
        {icon !== undefined && (
          <span
            className="mb-1 rounded-full bg-accent p-2.5 text-accent-foreground [&_svg]:size-6"
            aria-hidden="true"
          >
            {icon}
          </span>
        )}
        <CardTitle asHeading="h1" className="text-2xl">
          {title}
        </CardTitle>
        {description !== undefined && (
          <CardDescription className="text-base">{description}</CardDescription>
        )}
      </CardHeader>
      {children !== undefined && <CardContent className="grid gap-4">{children}</CardContent>}
      {footer !== undefined && (
        <CardFooter className="flex-col items-stretch gap-3 border-t pt-6 text-center text-sm text-muted-foreground">
          {footer}
        </CardFooter>
      )}
    </Card>
  )
}
