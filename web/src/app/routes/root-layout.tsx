import { Outlet } from 'react-router'

import { AppShell } from '@/components/layout/app-shell'
import { SessionEvents } from '@/features/auth/components/session-events'
import { UserMenu } from '@/features/auth/components/user-menu'
import { ChatRealtimeProvider } from '@/features/chat/components/chat-realtime-provider'
import { ServerBadge } from '@/features/server-info/components/server-badge'

export function RootLayout() {
  return (
    <AppShell
      headerEnd={
        <div className="flex min-w-0 items-center gap-2 sm:gap-3">
          <ServerBadge className="max-w-[40vw] sm:max-w-xs" />
          <UserMenu />
        </div>
      }
    >
      <SessionEvents />
      <ChatRealtimeProvider>
        <Outlet />
      </ChatRealtimeProvider>
    </AppShell>
  )
}
