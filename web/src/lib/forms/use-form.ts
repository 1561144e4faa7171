import { useRef, useState, type ChangeEvent, type RefObject, type SyntheticEvent } from 'react'
import type * as z from 'zod'

import { placeSubmitFailure, type SubmitFailure } from '@/lib/forms/server-errors'

/** A form of text fields, validated by a zod schema over their string values. */
type FormSchema = z.ZodType<object, Record<string, string>>

type FieldName<S extends FormSchema> = keyof z.input<S> & string
type FieldErrors<S extends FormSchema> = Partial<Record<FieldName<S>, string>>

/** What a field component needs: spread it into `<FormField>`. */
export interface FieldBinding {
  name: string
  value: string
  onChange: (event: ChangeEvent<HTMLInputElement>) => void
  onBlur: () => void
  error: string | undefined
}

export interface UseFormOptions<S extends FormSchema> {
  schema: S
  initialValues: z.input<S>
  /**
   * Called with the parsed values once they pass the schema. Place the errors you expect with
   * `showFailure`; anything thrown is shown above the form.
   */
  onSubmit: (data: z.output<S>) => Promise<void> | void
}

export interface Form<S extends FormSchema> {
  values: z.input<S>
  errors: FieldErrors<S>
  /** A message about the whole form (from the server), shown above the fields. */
  formError: string | undefined
  submitting: boolean
  /** Props for a field: its value, change and blur handlers, and its error. */
  field: (name: FieldName<S>) => FieldBinding
  /** Props for the <form> element. */
  formProps: {
    ref: RefObject<HTMLFormElement | null>
    onSubmit: (event: SyntheticEvent<HTMLFormElement>) => void
    noValidate: true
  }
  /** Show a failed submission next to its field (focusing it) or above the form. */
  showFailure: (failure: SubmitFailure<FieldName<S>>) => void
  setFormError: (message: string | undefined) => void
  /** Back to the initial values (or `values`), without errors. */
  reset: (values?: z.input<S>) => void
}

/**
 * Form state with zod validation. Errors appear when a filled-in field loses focus and for every
 * field on submit (focus moves to the first invalid one); after a submit attempt they update as
 * the user types. Submitting is ignored while a submission is in progress.
 */
export function useForm<S extends FormSchema>({
  schema,
  initialValues,
  onSubmit,
}: UseFormOptions<S>): Form<S> {
  type Name = FieldName<S>
  const [values, setValues] = useState(initialValues)
  const [errors, setErrors] = useState<FieldErrors<S>>({})
  const [formError, setFormError] = useState<string | undefined>()
  const [submitting, setSubmitting] = useState(false)
  const [attempted, setAttempted] = useState(false)
  const formRef = useRef<HTMLFormElement>(null)
  // A synchronous guard: a double click submits twice before `submitting` re-renders.
  const inFlight = useRef(false)

  function validate(
    candidate: z.input<S>,
  ): { data: z.output<S>; errors: FieldErrors<S> } | { data: undefined; errors: FieldErrors<S> } {
    const result = schema.safeParse(candidate)
    if (result.success) return { data: result.data, errors: {} }
    const found: FieldErrors<S> = {}
    for (const issue of result.error.issues) {
      const name = issue.path[0]
      if (typeof name === 'string' && name in candidate && found[name as Name] === undefined) {
        found[name as Name] = issue.message
      }
    }
    return { data: undefined, errors: found }
  }

  function focusField(name: Name) {
    const element = formRef.current?.elements.namedItem(name)
    if (element instanceof HTMLElement) element.focus()
  }

  function focusFirstInvalid(invalid: FieldErrors<S>) {
    const form = formRef.current
    if (!form) return
    for (const element of Array.from(form.elements)) {
      const name = element.getAttribute('name')
      if (name !== null && invalid[name as Name] !== undefined && element instanceof HTMLElement) {
        element.focus()
        return
      }
    }
  }

  function field(name: Name): FieldBinding {
    const strings: Record<string, string> = values
    return {
      name,
      value: strings[name] ?? '',
      error: errors[name],
      onChange: (event) => {
        const next = { ...values, [name]: event.target.value }
        setValues(next)
        if (attempted) {
          setErrors(validate(next).errors)
        } else if (errors[name] !== undefined) {
          setErrors((current) => ({ ...current, [name]: undefined }))
        }
      },
      onBlur: () => {
        // Tabbing through empty fields is not a mistake yet.
        if (values[name] === '' && !attempted) return
        const message = validate(values).errors[name]
        setErrors((current) => ({ ...current, [name]: message }))
      },
    }
  }

  async function submit() {
    setAttempted(true)
    setFormError(undefined)
    const result = validate(values)
    setErrors(result.errors)
    if (result.data === undefined) {
      focusFirstInvalid(result.errors)
      return
    }
    inFlight.current = true
    setSubmitting(true)
    try {
      await onSubmit(result.data)
    } catch (error) {
      // A safety net: handlers place the errors they expect themselves.
      setFormError(placeSubmitFailure(error).message)
    } finally {
      inFlight.current = false
      setSubmitting(false)
    }
  }

  return {
    values,
    errors,
    formError,
    submitting,
    field,
    formProps: {
      ref: formRef,
      noValidate: true,
      onSubmit: (event) => {
        event.preventDefault()
        if (inFlight.current) return
        void submit()
      },
    },
    showFailure: (failure) => {
      if (failure.field === undefined) {
        setFormError(failure.message)
        return
      }
      const name = failure.field
      setErrors((current) => ({ ...current, [name]: failure.message }))
      focusField(name)
    },
    setFormError,
    reset: (next = initialValues) => {
      setValues(next)
      setErrors({})
      setFormError(undefined)
      setAttempted(false)
    },
  }
}
