/**
 * The pages of signing up, in and out and of the links mailed to users: one chunk, loaded when
 * the first of them is visited (see routes.tsx).
 */
export { CheckEmailRoute } from '@/app/routes/check-email'
export { ForgotPasswordRoute } from '@/app/routes/forgot-password'
export { ResetPasswordRoute } from '@/app/routes/reset-password'
export { SignInRoute } from '@/app/routes/sign-in'
export { SignUpRoute } from '@/app/routes/sign-up'
export { VerifyEmailRoute } from '@/app/routes/verify-email'
