/**
 * Short names for the generated client API types (`schema.d.ts`, from docs/openapi.json).
 * Request bodies are typed with these; response schemas (zod) are checked against them with
 * `satisfies z.ZodType<ApiSchemas['…']>`, so a change to the API shows up as a type error.
 */
import type { components } from '@/lib/api/schema'

export type ApiSchemas = components['schemas']

/** A stable, machine-readable error code of the client API. */
export type ErrorCode = ApiSchemas['ErrorCode']
