/** Client-side routes. Keep route definitions and links in sync through this one table. */
export const paths = {
  home: '/',
  signIn: '/sign-in',
  signUp: '/sign-up',
  checkEmail: '/check-email',
  // The homeserver puts these two in the links it mails: keep them in step with its `link()`.
  verifyEmail: '/verify-email',
  resetPassword: '/reset-password',
  forgotPassword: '/forgot-password',
  chats: '/chats',
  chat: '/chats/:roomId',
  profile: '/profile',
  sessions: '/sessions',
} as const

/** Where a signed-in user lands when nothing else was asked for. */
export const signedInHome = paths.chats
