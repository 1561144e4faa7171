/** Client-side routes. Keep route definitions and links in sync through this one table. */
export const paths = {
  home: '/',
  signIn: '/sign-in',
} as const
