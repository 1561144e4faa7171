import { useId, type ComponentProps, type ReactNode } from 'react'

import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import { PasswordInput } from '@/components/ui/password-input'
import { cn } from '@/lib/utils'

type FormFieldProps = Omit<ComponentProps<'input'>, 'id'> & {
  label: ReactNode
  /** Help shown under the input, e.g. the rules a value must follow. */
  description?: ReactNode
  /** The problem with the current value, shown under the input in place of nothing. */
  error?: string | undefined
  /** Something at the end of the label row, e.g. a "Forgot password?" link. */
  labelEnd?: ReactNode
}

/**
 * A labelled input with its help text and its error, wired up for assistive technology: the
 * label names the input, the help and the error describe it, and `aria-invalid` marks it.
 * `type="password"` gives a password input with a show/hide button.
 */
function FormField({
  label,
  description,
  error,
  labelEnd,
  className,
  type,
  ...props
}: FormFieldProps) {
  const id = useId()
  const descriptionId = `${id}-description`
  const errorId = `${id}-error`
  const describedBy =
    [description !== undefined && descriptionId, error !== undefined && errorId]
      .filter(Boolean)
      .join(' ') || undefined
  const inputProps = {
    id,
    'aria-invalid': error !== undefined ? true : undefined,
    'aria-describedby': describedBy,
    ...props,
  }

  return (
    <div data-slot="form-field" className={cn('grid gap-2', className)}>
      <div className="flex items-center justify-between gap-2">
        <Label htmlFor={id}>{label}</Label>
        {labelEnd}
      </div>
      {type === 'password' ? (
        <PasswordInput {...inputProps} />
      ) : (
        <Input type={type} {...inputProps} />
      )}
      {description !== undefined && (
        <p id={descriptionId} className="text-xs text-muted-foreground">
          {description}
        </p>
      )}
      {error !== undefined && (
        <p id={errorId} className="text-sm text-destructive" data-slot="form-field-error">
          {error}
        </p>
      )}
    </div>
  )
}

export { FormField }
