import { Check, CheckCheck, Clock, ClockFading } from 'lucide-react'

import type { Tick } from '@/features/chat/model/ticks'
import { cn } from '@/lib/utils'

const labels: Record<Exclude<Tick, 'pending'>, string> = {
  sending: 'Sending',
  failed: 'Not sent',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
}

/**
 * The delivery state of one's own message as an icon with a text alternative. A message queued
 * for another server says which one (`waitingFor`), in words too: it may take a while.
 */
export function MessageTicks({
  tick,
  waitingFor,
}: {
  tick: Tick
  waitingFor?: string | undefined
}) {
  if (tick === 'pending') {
    const label =
      waitingFor === undefined ? 'Waiting for the room’s server' : `Waiting for ${waitingFor}`
    return (
      <span
        className="inline-flex items-center gap-0.5"
        data-testid="ticks"
        data-tick={tick}
        title={`${label}: it goes through when that server is reachable again`}
      >
        <ClockFading className="size-3.5" aria-hidden="true" />
        <span>{label}</span>
      </span>
    )
  }
  const label = labels[tick]
  return (
    <span
      className={cn('inline-flex items-center', tick === 'read' && 'text-sky-500')}
      data-testid="ticks"
      data-tick={tick}
      title={label}
    >
      {tick === 'sending' ? (
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
