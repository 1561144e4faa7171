/**
 * Where this browser keeps its device id between sign-ins. Not a secret: it only lets the
 * server recognise the device (and, later, its encryption keys) when the same browser signs in
 * again. Tokens are never stored in the browser by script: the access token lives in memory,
 * the refresh token in an HttpOnly cookie.
 */
export const DEVICE_ID_STORAGE_KEY = 'parley.device_id'

/** Refresh the access token this long before it expires, at most (a fifth of its life at least). */
export const REFRESH_LEAD_MS = 60_000

/** After a refresh failed for want of a connection, try again after this long. */
export const REFRESH_RETRY_MS = 30_000
