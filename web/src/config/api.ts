/** Every API call goes to the homeserver that served the app (same origin), under this prefix. */
export const API_BASE_PATH = '/api/v1'

/** Give up on a request that has not been answered after this long. */
export const API_TIMEOUT_MS = 15_000
