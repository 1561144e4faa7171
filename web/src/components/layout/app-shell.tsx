import type { ReactNode } from 'react'
import { Link } from 'react-router'

import { ParleyLogo } from '@/components/brand/parley-logo'
import { paths } from '@/config/paths'

interface AppShellProps {
  /** Shown at the end of the top bar, e.g. which server this is. */
  headerEnd?: ReactNode
  children: ReactNode
}

/** The frame around every page: skip link, top bar, main landmark, footer. */
function AppShell({ headerEnd, children }: AppShellProps) {
  return (
    <div className="flex min-h-dvh flex-col">
      <a
        href="#main"
        className="sr-only rounded-md bg-primary px-3 py-2 text-sm font-medium text-primary-foreground focus:not-sr-only focus:fixed focus:top-2 focus:left-2 focus:z-50"
      >
        Skip to content
      </a>

      <header className="sticky top-0 z-40 border-b bg-background/85 backdrop-blur-md">
        <div className="mx-auto flex h-14 w-full max-w-5xl items-center justify-between gap-4 px-4 sm:px-6">
          <Link
            to={paths.home}
            className="-mx-1 rounded-md px-1 outline-none focus-visible:ring-[3px] focus-visible:ring-ring/50"
            aria-label="Parley, home"
          >
            <ParleyLogo />
          </Link>
          {headerEnd}
        </div>
      </header>

      {/* tabIndex lets the skip link move keyboard focus here. */}
      <main
        id="main"
        tabIndex={-1}
        className="flex w-full flex-1 flex-col items-center justify-center px-4 py-10 outline-none sm:px-6 sm:py-16"
      >
        {children}
      </main>

      <footer className="border-t">
        <p className="mx-auto w-full max-w-5xl px-4 py-4 text-center text-xs text-muted-foreground sm:px-6">
          Parley: self-hosted, end-to-end encrypted, federated messaging.
        </p>
      </footer>
    </div>
  )
}

export { AppShell }
