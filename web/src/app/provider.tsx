import { QueryClientProvider, type QueryClient } from '@tanstack/react-query'
import { useState, type ReactNode } from 'react'

import { Toaster } from '@/components/ui/sonner'
import { createQueryClient } from '@/lib/query-client'

interface AppProviderProps {
  children: ReactNode
  /** Tests pass their own client (no retries, fresh cache); the app creates one per mount. */
  queryClient?: QueryClient
}

export function AppProvider({ children, queryClient }: AppProviderProps) {
  const [defaultClient] = useState(createQueryClient)
  return (
    <QueryClientProvider client={queryClient ?? defaultClient}>
      {children}
      <Toaster position="bottom-right" closeButton />
    </QueryClientProvider>
  )
}
