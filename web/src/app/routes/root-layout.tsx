import { Outlet } from 'react-router'

import { AppShell } from '@/components/layout/app-shell'
import { ServerBadge } from '@/features/server-info/components/server-badge'

export function RootLayout() {
  return (
    <AppShell headerEnd={<ServerBadge />}>
      <Outlet />
    </AppShell>
  )
}
