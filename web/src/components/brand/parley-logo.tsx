import { useId, type ComponentProps } from 'react'

import { cn } from '@/lib/utils'

/** The Parley mark: a speech bubble with a keyhole. Same drawing as public/favicon.svg. */
function ParleyMark({ className, ...props }: ComponentProps<'svg'>) {
  // Gradient ids are document-global; keep each instance's own.
  const gradientId = useId()
  return (
    <svg
      viewBox="0 0 64 64"
      aria-hidden="true"
      focusable="false"
      className={cn('size-8 shrink-0', className)}
      {...props}
    >
      <defs>
        <linearGradient id={gradientId} x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#6d5ef6" />
          <stop offset="1" stopColor="#3b3fc4" />
        </linearGradient>
      </defs>
      <rect width="64" height="64" rx="16" fill={`url(#${gradientId})`} />
      <path
        d="M16 18.5A4.5 4.5 0 0 1 20.5 14h23a4.5 4.5 0 0 1 4.5 4.5v18a4.5 4.5 0 0 1-4.5 4.5H30l-9 8v-8h-.5a4.5 4.5 0 0 1-4.5-4.5z"
        fill="#fff"
      />
      <circle cx="32" cy="25" r="4" fill="#4a45d8" />
      <path d="M30.2 27.5h3.6l1.2 7h-6z" fill="#4a45d8" />
    </svg>
  )
}

/** Mark and wordmark side by side. */
function ParleyLogo({ className }: { className?: string }) {
  return (
    <span className={cn('inline-flex items-center gap-2', className)}>
      <ParleyMark />
      <span className="text-lg font-semibold tracking-tight">Parley</span>
    </span>
  )
}

export { ParleyLogo, ParleyMark }
