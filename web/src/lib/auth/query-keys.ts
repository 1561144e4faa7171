/**
 * Every query that holds the signed-in user's data has a key starting with this, so that it
 * can all be dropped from the cache at once when the user signs out or someone else signs in.
 */
export const userQueryKey = ['user'] as const
