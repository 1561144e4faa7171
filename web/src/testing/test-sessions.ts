import { AuthSession } from '@/lib/auth/auth-session'
import type { TokenResponse } from '@/lib/auth/token-response'

/** Every session a test made, to stop their refresh timers afterwards. */
const sessions = new Set<AuthSession>()

/** A session for a test: signed out, or signed in with `tokens`. Disposed after the test. */
export function testSession(tokens?: TokenResponse): AuthSession {
  const session = new AuthSession({ signedOut: true })
  if (tokens) session.start(tokens)
  sessions.add(session)
  return session
}

/** A session that will restore itself from the (mocked) refresh cookie when the app mounts. */
export function restoringSession(): AuthSession {
  const session = new AuthSession()
  sessions.add(session)
  return session
}

/** Stop the refresh timers of this test's sessions (called after each test). */
export function disposeTestSessions(): void {
  for (const session of sessions) session.dispose()
  sessions.clear()
}
