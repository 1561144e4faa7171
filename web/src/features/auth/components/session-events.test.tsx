import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import {
  callsTo,
  errorResponse,
  jsonResponse,
  mockApi,
  renderApp,
  testSession,
  testTokens,
} from '@/testing/test-utils'

const profile = {
  user_id: testTokens.user_id,
  email: 'alice@org-a.example',
  full_name: 'Alice Liddell',
  display_name: null,
  created_at: '2026-11-24T10:00:00Z',
}

describe('signing out', () => {
  it('ends the session on the server, then protected pages send to sign in', async () => {
    const fetchMock = mockApi({
      'GET /account/profile': () => jsonResponse(profile),
      'POST /auth/logout': () => jsonResponse({ ended: 1 }),
    })
    const user = userEvent.setup()
    const { router, session } = renderApp('/profile', { session: testSession(testTokens) })
    await screen.findByTestId('profile-user-id')

    const menuButton = screen.getByRole('button', {
      name: `Account menu for ${testTokens.user_id}`,
    })
    expect(menuButton).toHaveAttribute('aria-expanded', 'false')
    await user.click(menuButton)
    expect(menuButton).toHaveAttribute('aria-expanded', 'true')
    expect(screen.getByTestId('signed-in-user')).toHaveTextContent(testTokens.user_id)
    await user.click(screen.getByRole('button', { name: 'Sign out' }))

    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sign-in')
    })
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'signed-out' })
    expect(await screen.findByText('You have signed out')).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /auth/logout')[0]?.headers.get('Authorization')).toBe(
      `Bearer ${testTokens.access_token}`,
    )

    await router.navigate('/profile')
    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sign-in')
    })
  })

  it('closes the menu with Escape and gives focus back to its button', async () => {
    mockApi({ 'GET /account/profile': () => jsonResponse(profile) })
    const user = userEvent.setup()
    renderApp('/profile', { session: testSession(testTokens) })
    const menuButton = await screen.findByRole('button', { name: /account menu/i })

    await user.click(menuButton)
    await user.keyboard('{Escape}')

    expect(menuButton).toHaveAttribute('aria-expanded', 'false')
    expect(menuButton).toHaveFocus()
    expect(screen.queryByRole('button', { name: 'Sign out' })).not.toBeInTheDocument()
  })

  it('stays signed in when the server cannot be reached, and says so', async () => {
    mockApi({
      'GET /account/profile': () => jsonResponse(profile),
      'POST /auth/logout': () => {
        throw new TypeError('Failed to fetch')
      },
    })
    const user = userEvent.setup()
    const { router, session } = renderApp('/profile', { session: testSession(testTokens) })

    await user.click(await screen.findByRole('button', { name: /account menu/i }))
    await user.click(screen.getByRole('button', { name: 'Sign out' }))

    expect(await screen.findByText('Could not sign out')).toBeInTheDocument()
    expect(session.getState().status).toBe('signed-in')
    expect(router.state.location.pathname).toBe('/profile')
  })
})

describe('a session the server ended', () => {
  it('sends the user to sign in with a toast, and back to the page afterwards', async () => {
    let signedInAgain = false
    const fetchMock = mockApi({
      'GET /auth/sessions': () =>
        signedInAgain
          ? jsonResponse({ sessions: [] })
          : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.'),
      'POST /auth/refresh': () => errorResponse(401, 'M_UNKNOWN_TOKEN', 'Session ended.'),
      'POST /auth/login': () => {
        signedInAgain = true
        return jsonResponse({ ...testTokens, access_token: 'access-token-2' })
      },
    })
    const user = userEvent.setup()
    const { router, session } = renderApp('/sessions', { session: testSession(testTokens) })

    expect(await screen.findByText('Your session has ended')).toBeInTheDocument()
    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sign-in')
    })
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'ended' })
    expect(callsTo(fetchMock, 'POST /auth/refresh')).toHaveLength(1)

    const form = await screen.findByRole('form', { name: 'Sign in' })
    await user.type(within(form).getByLabelText('Username or email'), 'alice')
    await user.type(within(form).getByLabelText('Password'), 'correct horse battery')
    await user.click(within(form).getByRole('button', { name: 'Sign in' }))

    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sessions')
    })
  })

  it('is refreshed silently when only the access token expired', async () => {
    const fetchMock = mockApi({
      'GET /account/profile': ({ init }) =>
        new Headers(init?.headers).get('Authorization') === 'Bearer access-token-2'
          ? jsonResponse(profile)
          : errorResponse(401, 'M_UNKNOWN_TOKEN', 'Token expired.'),
      'POST /auth/refresh': () => jsonResponse({ ...testTokens, access_token: 'access-token-2' }),
    })
    renderApp('/profile', { session: testSession(testTokens) })

    expect(await screen.findByTestId('profile-user-id')).toHaveTextContent(testTokens.user_id)
    expect(callsTo(fetchMock, 'POST /auth/refresh')).toHaveLength(1)
    expect(screen.queryByText('Your session has ended')).not.toBeInTheDocument()
  })
})
