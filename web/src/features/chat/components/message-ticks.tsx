import { Check, CheckCheck, Clock } from 'lucide-react'

import type { Tick } from '@/features/chat/model/ticks'
import { cn } from '@/lib/utils'

const labels: Record<Tick, string> = {
  pending: 'Sending',
  failed: 'Not sent',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
}

/** The delivery state of one's own message as an icon with a text alternative. */
export function MessageTicks({ tick }: { tick: Tick }) {
  const label = labels[tick]
  return (
    <span
      className={cn('inline-flex items-center', tick === 'read' && 'text-sky-500')}
      data-testid="ticks"
      data-tick={tick}
      title={label}
    >
      {tick === 'pending' ? (
        <Clock className="size-3.5" aria-hidden="true" />
      ) : tick === 'sent' ? (
        <Check className="size-3.5" aria-hidden="true" />
      ) : tick === 'failed' ? null : (
        <CheckCheck className="size-3.5" aria-hidden="true" />
      )}
      <span className="sr-only">{label}</span>
    </span>
  )
}
