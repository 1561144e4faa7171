import type { RouteObject } from 'react-router'

import { HomeRoute } from '@/app/routes/home'
import { NotFoundRoute } from '@/app/routes/not-found'
import { PageLoading } from '@/app/routes/page-loading'
import { RootLayout } from '@/app/routes/root-layout'
import { RouteError } from '@/app/routes/route-error'
import { paths } from '@/config/paths'

// Pages beyond the welcome screen load on demand, in two chunks: everything about getting in,
// and the signed-in user's pages. The first visit (the home page) stays small.
const authPages = () => import('@/app/routes/auth-pages')
const accountPages = () => import('@/app/routes/account-pages')
const chatPages = () => import('@/app/routes/chat-pages')

/** Every client-side route. The browser router uses them; tests mount them in a memory router. */
export const routes: RouteObject[] = [
  {
    path: paths.home,
    element: <RootLayout />,
    errorElement: <RouteError />,
    hydrateFallbackElement: <PageLoading />,
    children: [
      { index: true, element: <HomeRoute /> },
      {
        path: paths.signIn,
        lazy: () => authPages().then((m) => ({ Component: m.SignInRoute })),
      },
      {
        path: paths.signUp,
        lazy: () => authPages().then((m) => ({ Component: m.SignUpRoute })),
      },
      {
        path: paths.checkEmail,
        lazy: () => authPages().then((m) => ({ Component: m.CheckEmailRoute })),
      },
      {
        path: paths.verifyEmail,
        lazy: () => authPages().then((m) => ({ Component: m.VerifyEmailRoute })),
      },
      {
        path: paths.forgotPassword,
        lazy: () => authPages().then((m) => ({ Component: m.ForgotPasswordRoute })),
      },
      {
        path: paths.resetPassword,
        lazy: () => authPages().then((m) => ({ Component: m.ResetPasswordRoute })),
      },
      {
        path: paths.chats,
        lazy: () => chatPages().then((m) => ({ Component: m.ChatsRoute })),
      },
      {
        path: paths.chat,
        lazy: () => chatPages().then((m) => ({ Component: m.ChatsRoute })),
      },
      {
        // Signed-in pages: anyone else is sent to sign in.
        lazy: () => accountPages().then((m) => ({ Component: m.AccountLayout })),
        children: [
          {
            path: paths.profile,
            lazy: () => accountPages().then((m) => ({ Component: m.ProfileRoute })),
          },
          {
            path: paths.sessions,
            lazy: () => accountPages().then((m) => ({ Component: m.SessionsRoute })),
          },
        ],
      },
      // Anything else the homeserver handed to the app (its SPA fallback) is ours to 404.
      { path: '*', element: <NotFoundRoute /> },
    ],
  },
]
