import { AppShell } from '@/components/layout/app-shell'
import { LoadingCard } from '@/components/layout/loading-card'

/** Shown while the code of the page opened first is still loading (a moment, usually). */
export function PageLoading() {
  return (
    <AppShell>
      <LoadingCard label="Loading…" />
    </AppShell>
  )
}
