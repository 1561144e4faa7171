import { QueryClientProvider, type QueryClient } from '@tanstack/react-query'
import { useState, type ReactNode } from 'react'

import { Toaster } from '@/components/ui/sonner'
import { AuthProvider } from '@/lib/auth/auth-provider'
import type { AuthSession } from '@/lib/auth/auth-session'
import { createQueryClient } from '@/lib/query-client'

interface AppProviderProps {
  children: ReactNode
  /** Tests pass their own client (no retries, fresh cache); the app creates one per mount. */
  queryClient?: QueryClient
  /** Tests pass their own session (signed in or out already); the app restores one. */
  authSession?: AuthSession
}

export function AppProvider({ children, queryClient, authSession }: AppProviderProps) {
  const [defaultClient] = useState(createQueryClient)
  return (
    <QueryClientProvider client={queryClient ?? defaultClient}>
      <AuthProvider {...(authSession === undefined ? {} : { session: authSession })}>
        {children}
      </AuthProvider>
      <Toaster position="bottom-right" closeButton />
    </QueryClientProvider>
  )
}
