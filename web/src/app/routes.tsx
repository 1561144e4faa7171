import type { RouteObject } from 'react-router'

import { HomeRoute } from '@/app/routes/home'
import { NotFoundRoute } from '@/app/routes/not-found'
import { RootLayout } from '@/app/routes/root-layout'
import { RouteError } from '@/app/routes/route-error'
import { SignInRoute } from '@/app/routes/sign-in'
import { paths } from '@/config/paths'

/** Every client-side route. The browser router uses them; tests mount them in a memory router. */
export const routes: RouteObject[] = [
  {
    path: paths.home,
    element: <RootLayout />,
    errorElement: <RouteError />,
    children: [
      { index: true, element: <HomeRoute /> },
      { path: paths.signIn, element: <SignInRoute /> },
      // Anything else the homeserver handed to the app (its SPA fallback) is ours to 404.
      { path: '*', element: <NotFoundRoute /> },
    ],
  },
]
