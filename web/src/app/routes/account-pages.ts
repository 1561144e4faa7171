/** The signed-in user's pages: one chunk, loaded when the first of them is visited. */
export { AccountLayout } from '@/app/routes/account-layout'
export { ProfileRoute } from '@/app/routes/profile'
export { SessionsRoute } from '@/app/routes/sessions'
