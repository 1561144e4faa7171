import {
  ChevronDown,
  LogIn,
  LogOut,
  MessagesSquare,
  MonitorSmartphone,
  UserRound,
} from 'lucide-react'
import { useEffect, useId, useRef, useState, type ReactNode } from 'react'
import { Link, useLocation } from 'react-router'
import { toast } from 'sonner'

import { Button } from '@/components/ui/button'
import { Skeleton } from '@/components/ui/skeleton'
import { Spinner } from '@/components/ui/spinner'
import { paths } from '@/config/paths'
import { useSignOut } from '@/features/auth/api/sign-out'
import type { SignedInUser } from '@/lib/auth/auth-session'
import { useAuthState } from '@/lib/auth/use-auth'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { localpart } from '@/lib/ids'
import { cn } from '@/lib/utils'

/** The top bar's account control: "Sign in" when signed out, the user's menu when signed in. */
export function UserMenu() {
  const state = useAuthState()
  const { pathname } = useLocation()

  if (state.status === 'restoring') return <Skeleton className="size-9 rounded-full" />
  if (state.status === 'signed-out') {
    // The sign-in page has its own form; a second way there would only distract.
    if (pathname === paths.signIn) return null
    return (
      <Button asChild variant="ghost" size="sm">
        <Link to={paths.signIn}>
          <LogIn />
          Sign in
        </Link>
      </Button>
    )
  }
  return <SignedInMenu user={state.user} />
}

/**
 * A disclosure (button + panel) rather than an ARIA menu: plain links and a button inside,
 * reachable with Tab, closed with Escape or a click elsewhere.
 */
function SignedInMenu({ user }: { user: SignedInUser }) {
  const [open, setOpen] = useState(false)
  const panelId = useId()
  const containerRef = useRef<HTMLDivElement>(null)
  const buttonRef = useRef<HTMLButtonElement>(null)
  const signOut = useSignOut()
  const name = localpart(user.userId)

  useEffect(() => {
    if (!open) return
    function onPointerDown(event: PointerEvent) {
      if (!containerRef.current?.contains(event.target as Node)) setOpen(false)
    }
    function onKeyDown(event: KeyboardEvent) {
      if (event.key !== 'Escape') return
      setOpen(false)
      buttonRef.current?.focus()
    }
    document.addEventListener('pointerdown', onPointerDown)
    document.addEventListener('keydown', onKeyDown)
    return () => {
      document.removeEventListener('pointerdown', onPointerDown)
      document.removeEventListener('keydown', onKeyDown)
    }
  }, [open])

  const close = () => {
    setOpen(false)
  }

  return (
    <div ref={containerRef} className="relative">
      <Button
        ref={buttonRef}
        variant="ghost"
        className="gap-2 px-1.5 sm:px-2"
        aria-expanded={open}
        aria-controls={panelId}
        aria-label={`Account menu for ${user.userId}`}
        onClick={() => {
          setOpen((isOpen) => !isOpen)
        }}
      >
        <span
          aria-hidden="true"
          className="flex size-7 items-center justify-center rounded-full bg-primary text-sm font-semibold text-primary-foreground uppercase"
        >
          {name.slice(0, 1)}
        </span>
        <span className="hidden max-w-32 truncate sm:inline">{name}</span>
        <ChevronDown className={cn('transition-transform', open && 'rotate-180')} />
      </Button>

      <div
        id={panelId}
        hidden={!open}
        className="absolute top-full right-0 z-50 mt-2 w-64 max-w-[calc(100vw-2rem)] rounded-lg border bg-popover p-1.5 text-popover-foreground shadow-lg"
      >
        <div className="border-b px-2.5 pt-1.5 pb-2.5">
          <p className="text-xs text-muted-foreground">Signed in as</p>
          <p
            className="truncate font-mono text-sm"
            title={user.userId}
            data-testid="signed-in-user"
          >
            {user.userId}
          </p>
        </div>
        <nav aria-label="Account" className="grid gap-0.5 py-1.5">
          <MenuLink to={paths.chats} icon={<MessagesSquare />} onClick={close}>
            Chats
          </MenuLink>
          <MenuLink to={paths.profile} icon={<UserRound />} onClick={close}>
            Profile
          </MenuLink>
          <MenuLink to={paths.sessions} icon={<MonitorSmartphone />} onClick={close}>
            Sessions
          </MenuLink>
        </nav>
        <div className="border-t pt-1.5">
          <button
            type="button"
            className={menuItemClassName}
            aria-disabled={signOut.isPending}
            onClick={() => {
              if (signOut.isPending) return
              signOut.mutate(undefined, {
                onError: (error) => {
                  toast.error('Could not sign out', {
                    description: describeApiFailure(error).detail,
                  })
                },
              })
            }}
          >
            {signOut.isPending ? <Spinner /> : <LogOut />}
            {signOut.isPending ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      </div>
    </div>
  )
}

const menuItemClassName =
  'flex w-full items-center gap-2.5 rounded-md px-2.5 py-2 text-left text-sm outline-none hover:bg-accent hover:text-accent-foreground focus-visible:ring-[3px] focus-visible:ring-ring/50 aria-disabled:opacity-70 [&_svg]:size-4 [&_svg]:shrink-0 [&_svg]:text-muted-foreground'

function MenuLink({
  to,
  icon,
  onClick,
  children,
}: {
  to: string
  icon: ReactNode
  onClick: () => void
  children: ReactNode
}) {
  return (
    <Link to={to} className={menuItemClassName} onClick={onClick}>
      {icon}
      {children}
    </Link>
  )
}
