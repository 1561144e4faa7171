/** The auth forms' validation: the server's rules (see lib/forms/rules) plus confirmations. */
import * as z from 'zod'

import {
  confirmationMatches,
  currentPasswordRule,
  emailRule,
  fullNameRule,
  newPasswordRule,
  usernameRule,
} from '@/lib/forms/rules'

export const signInFormSchema = z.object({
  identifier: z.string().trim().min(1, 'Enter your username or email address.'),
  password: currentPasswordRule,
})

export const signUpFormSchema = z
  .object({
    username: usernameRule,
    email: emailRule,
    full_name: fullNameRule,
    password: newPasswordRule,
    confirm: z.string(),
  })
  .refine(...confirmationMatches<{ password: string; confirm: string }>('password'))

export const emailFormSchema = z.object({ email: emailRule })

export const resetPasswordFormSchema = z
  .object({ password: newPasswordRule, confirm: z.string() })
  .refine(...confirmationMatches<{ password: string; confirm: string }>('password'))
