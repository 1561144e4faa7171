import { MonitorSmartphone, UserRound } from 'lucide-react'
import type { ReactNode } from 'react'
import { NavLink, Outlet } from 'react-router'

import { paths } from '@/config/paths'
import { RequireAuth } from '@/features/auth/components/require-auth'
import { cn } from '@/lib/utils'

/** The signed-in user's pages: only when signed in, with tabs between them. */
export function AccountLayout() {
  return (
    <RequireAuth>
      <div className="grid w-full max-w-2xl gap-6">
        <nav
          aria-label="Your account"
          className="flex gap-1 rounded-lg border bg-card p-1 shadow-xs"
        >
          <Tab to={paths.profile} icon={<UserRound />}>
            Profile
          </Tab>
          <Tab to={paths.sessions} icon={<MonitorSmartphone />}>
            Sessions
          </Tab>
        </nav>
        <Outlet />
      </div>
    </RequireAuth>
  )
}

function Tab({ to, icon, children }: { to: string; icon: ReactNode; children: ReactNode }) {
  return (
    <NavLink
      to={to}
      className={({ isActive }) =>
        cn(
          'flex flex-1 items-center justify-center gap-2 rounded-md px-3 py-2 text-sm font-medium outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50 [&_svg]:size-4',
          isActive
            ? 'bg-primary text-primary-foreground shadow-sm'
            : 'text-muted-foreground hover:bg-accent hover:text-accent-foreground',
        )
      }
    >
      {icon}
      {children}
    </NavLink>
  )
}
