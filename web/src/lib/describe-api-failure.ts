import { ApiError, InvalidResponseError, NetworkError } from '@/lib/api-client'

export interface FailureDescription {
  /** Short headline, e.g. for a toast or an error card title. */
  title: string
  /** One or two sentences on what happened, for people rather than developers. */
  detail: string
}

/** Turn any error thrown by an API call into words for the person using the app. */
export function describeApiFailure(error: unknown): FailureDescription {
  if (error instanceof NetworkError) {
    return {
      title: 'Server unreachable',
      detail: error.timedOut
        ? 'The server took too long to answer. It may be overloaded or restarting.'
        : 'Could not connect to the server. Check your connection, or try again in a moment.',
    }
  }
  if (error instanceof InvalidResponseError) {
    return {
      title: 'Unexpected response',
      detail:
        'The server answered, but not in a way this app understands. The server and the app may be different versions.',
    }
  }
  if (error instanceof ApiError) {
    return {
      title: error.status >= 500 ? 'Server error' : 'Request refused',
      detail: `${error.message} (${error.errcode}, HTTP ${String(error.status)})`,
    }
  }
  return { title: 'Something went wrong', detail: 'An unexpected error occurred.' }
}
