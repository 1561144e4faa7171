import { useState } from 'react'
import { createBrowserRouter } from 'react-router'
import { RouterProvider } from 'react-router/dom'

import { routes } from '@/app/routes'

export function AppRouter() {
  // Created on mount rather than at module load, so importing this module has no side effects.
  const [router] = useState(() => createBrowserRouter(routes))
  return <RouterProvider router={router} />
}
