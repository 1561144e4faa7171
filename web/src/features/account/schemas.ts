/** The account forms' validation: the server's rules (see lib/forms/rules) plus confirmations. */
import * as z from 'zod'

import {
  confirmationMatches,
  currentPasswordRule,
  displayNameRule,
  emailRule,
  fullNameRule,
  newPasswordRule,
} from '@/lib/forms/rules'

export const editProfileFormSchema = z.object({
  full_name: fullNameRule,
  display_name: displayNameRule,
})

export const changePasswordFormSchema = z
  .object({
    current_password: currentPasswordRule,
    new_password: newPasswordRule,
    confirm: z.string(),
  })
  .refine(...confirmationMatches<{ new_password: string; confirm: string }>('new_password'))

export const changeEmailFormSchema = z.object({
  new_email: emailRule,
  password: currentPasswordRule,
})
