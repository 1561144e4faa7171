import type { ComponentProps } from 'react'
import { Link } from 'react-router'

import { cn } from '@/lib/utils'

/** An in-app link styled as a link in running text. */
function TextLink({ className, ...props }: ComponentProps<typeof Link>) {
  return (
    <Link
      className={cn(
        'rounded-sm font-medium text-primary underline-offset-4 outline-none hover:underline focus-visible:ring-[3px] focus-visible:ring-ring/50',
        className,
      )}
      {...props}
    />
  )
}

export { TextLink }
