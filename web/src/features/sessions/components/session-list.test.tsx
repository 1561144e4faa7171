import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import {
  callsTo,
  jsonResponse,
  mockApi,
  renderApp,
  testSession,
  testTokens,
} from '@/testing/test-utils'

function sessionInfo(n: number, overrides: Record<string, unknown> = {}) {
  return {
    session_id: `session-${String(n)}`,
    device_id: `DEVICE${String(n)}`,
    device_name: `Firefox on Windows ${String(n)}`,
    created_at: '2026-11-20T10:00:00Z',
    last_seen_at: '2026-11-24T09:00:00Z',
    ip: `192.0.2.${String(n)}`,
    user_agent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
    current: false,
    ...overrides,
  }
}

describe('sessions page', () => {
  it('lists the sessions, this device first and marked', async () => {
    mockApi({
      'GET /auth/sessions': () =>
        jsonResponse({
          sessions: [
            sessionInfo(2),
            sessionInfo(1, { current: true, device_name: 'Chrome on Linux' }),
            sessionInfo(3, { device_name: null, ip: null, user_agent: null }),
          ],
        }),
    })
    renderApp('/sessions', { session: testSession(testTokens) })

    const items = await screen.findAllByTestId('session')
    expect(items).toHaveLength(3)
    const [first, second, third] = items as [HTMLElement, HTMLElement, HTMLElement]
    expect(first).toHaveTextContent('Chrome on Linux')
    expect(within(first).getByText('This device')).toBeVisible()
    expect(within(first).queryByRole('button', { name: /sign out/i })).not.toBeInTheDocument()
    expect(second).toHaveTextContent('Firefox on Windows 2')
    expect(second).toHaveTextContent('DEVICE2')
    expect(second).toHaveTextContent('192.0.2.2')
    expect(second).toHaveTextContent('Firefox/133.0')
    expect(within(second).queryByText('This device')).not.toBeInTheDocument()
    expect(third).toHaveTextContent('Unnamed device')
  })

  it('signs out another session', async () => {
    let sessions = [sessionInfo(1, { current: true }), sessionInfo(2)]
    const fetchMock = mockApi({
      'GET /auth/sessions': () => jsonResponse({ sessions }),
      'DELETE /auth/sessions/session-2': () => {
        sessions = sessions.filter((s) => s.session_id !== 'session-2')
        return jsonResponse({ ended: 1 })
      },
    })
    const user = userEvent.setup()
    renderApp('/sessions', { session: testSession(testTokens) })

    await user.click(
      await screen.findByRole('button', { name: 'Sign out Firefox on Windows 2 (device DEVICE2)' }),
    )

    expect(await screen.findByText('Signed out Firefox on Windows 2')).toBeInTheDocument()
    await waitFor(() => {
      expect(screen.getAllByTestId('session')).toHaveLength(1)
    })
    expect(
      callsTo(fetchMock, 'DELETE /auth/sessions/session-2')[0]?.headers.get('Authorization'),
    ).toBe(`Bearer ${testTokens.access_token}`)
  })

  it('signs out all other sessions after confirmation', async () => {
    let sessions = [sessionInfo(1, { current: true }), sessionInfo(2), sessionInfo(3)]
    const fetchMock = mockApi({
      'GET /auth/sessions': () => jsonResponse({ sessions }),
      'POST /auth/sessions/end-others': () => {
        sessions = sessions.filter((s) => s.current)
        return jsonResponse({ ended: 2 })
      },
    })
    const user = userEvent.setup()
    renderApp('/sessions', { session: testSession(testTokens) })

    const trigger = await screen.findByRole('button', { name: 'Sign out all other sessions' })
    await user.click(trigger)

    // Nothing happens before the user confirms; Cancel backs out.
    const confirmation = screen.getByRole('group', { name: 'Sign out 2 other sessions?' })
    expect(within(confirmation).getByRole('button', { name: 'Cancel' })).toHaveFocus()
    await user.click(within(confirmation).getByRole('button', { name: 'Cancel' }))
    expect(callsTo(fetchMock, 'POST /auth/sessions/end-others')).toHaveLength(0)
    expect(screen.getByRole('button', { name: 'Sign out all other sessions' })).toHaveFocus()

    await user.click(screen.getByRole('button', { name: 'Sign out all other sessions' }))
    await user.click(screen.getByRole('button', { name: 'Sign out 2 sessions' }))

    expect(await screen.findByText('Signed out 2 sessions')).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /auth/sessions/end-others')).toHaveLength(1)
    expect(await screen.findByText('You are not signed in anywhere else.')).toBeVisible()
    expect(screen.getAllByTestId('session')).toHaveLength(1)
  })
})
