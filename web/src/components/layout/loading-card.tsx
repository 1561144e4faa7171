import { Spinner } from '@/components/ui/spinner'
import { cn } from '@/lib/utils'

/** A page-sized placeholder while something loads, announced to screen readers. */
function LoadingCard({ label, className }: { label: string; className?: string }) {
  return (
    <div
      className={cn(
        'flex w-full max-w-md items-center justify-center gap-3 rounded-xl border bg-card px-6 py-10 text-sm text-muted-foreground shadow-sm',
        className,
      )}
      aria-busy="true"
    >
      <Spinner className="size-5" />
      <p role="status">{label}</p>
    </div>
  )
}

export { LoadingCard }
