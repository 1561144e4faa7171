import { screen, waitFor, within } from '@testing-library/react'
import userEvent, { type UserEvent } from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import { DEVICE_ID_STORAGE_KEY } from '@/config/auth'
import {
  callsTo,
  errorResponse,
  jsonResponse,
  mockApi,
  renderApp,
  restoringSession,
  testTokens,
} from '@/testing/test-utils'

const profile = {
  user_id: testTokens.user_id,
  email: 'alice@org-a.example',
  full_name: 'Alice Liddell',
  display_name: null,
  created_at: '2026-11-24T10:00:00Z',
}

async function signIn(user: UserEvent, identifier: string, password: string) {
  await user.type(await screen.findByLabelText('Username or email'), identifier)
  await user.type(screen.getByLabelText('Password'), password)
  await user.click(screen.getByRole('button', { name: 'Sign in' }))
}

describe('sign-in page', () => {
  it('signs in with a cookie for the refresh token, and goes to the chats', async () => {
    const fetchMock = mockApi({
      'POST /auth/login': () => jsonResponse(testTokens),
      'GET /rooms': () => jsonResponse({ rooms: [] }),
    })
    const user = userEvent.setup()
    const { router, session } = renderApp('/sign-in')

    await signIn(user, 'alice', 'correct horse battery')

    expect(await screen.findByRole('heading', { level: 1, name: 'Chats' })).toBeVisible()
    expect(router.state.location.pathname).toBe('/chats')
    expect(session.getState().status).toBe('signed-in')
    const [login] = callsTo(fetchMock, 'POST /auth/login')
    expect(login?.body).toEqual({
      identifier: 'alice',
      password: 'correct horse battery',
      device_name: expect.any(String) as unknown,
      refresh_token_transport: 'cookie',
    })
    // The room list request carries the access token (it may start after the heading shows).
    await waitFor(() => {
      expect(callsTo(fetchMock, 'GET /rooms')[0]?.headers.get('Authorization')).toBe(
        `Bearer ${testTokens.access_token}`,
      )
    })
    // The device is remembered for next time; the token is not stored anywhere.
    expect(localStorage.getItem(DEVICE_ID_STORAGE_KEY)).toBe(testTokens.device_id)
    const stored = Object.keys(localStorage).map((key) => localStorage.getItem(key))
    expect(stored.join('\n')).not.toContain(testTokens.access_token)
  })

  it('keeps the device of an earlier sign-in', async () => {
    localStorage.setItem(DEVICE_ID_STORAGE_KEY, 'OLDDEVICE1')
    const fetchMock = mockApi({
      'POST /auth/login': () => jsonResponse({ ...testTokens, device_id: 'OLDDEVICE1' }),
      'GET /rooms': () => jsonResponse({ rooms: [] }),
    })
    const user = userEvent.setup()
    renderApp('/sign-in')

    await signIn(user, 'alice', 'correct horse battery')

    await screen.findByRole('heading', { level: 1, name: 'Chats' })
    expect(callsTo(fetchMock, 'POST /auth/login')[0]?.body).toMatchObject({
      device_id: 'OLDDEVICE1',
    })
  })

  it('shows wrong credentials inline and stays on the page', async () => {
    mockApi({
      'POST /auth/login': () => errorResponse(403, 'M_FORBIDDEN', 'Wrong username or password.'),
    })
    const user = userEvent.setup()
    const { router, session } = renderApp('/sign-in')

    await signIn(user, 'alice', 'wrong password')

    const alert = await screen.findByTestId('sign-in-error')
    expect(alert).toHaveAttribute('role', 'alert')
    expect(alert).toHaveTextContent('Wrong username or password.')
    expect(router.state.location.pathname).toBe('/sign-in')
    expect(session.getState().status).toBe('signed-out')
    expect(screen.getByRole('button', { name: 'Sign in' })).not.toHaveAttribute(
      'aria-disabled',
      'true',
    )
  })

  it('says when to try again after too many failures', async () => {
    mockApi({
      'POST /auth/login': () =>
        errorResponse(
          429,
          'M_LIMIT_EXCEEDED',
          'Too many failed sign-ins. Try again later, or reset your password.',
          { retry_after_ms: 90_000 },
        ),
    })
    const user = userEvent.setup()
    renderApp('/sign-in')

    await signIn(user, 'alice', 'wrong password')

    expect(await screen.findByTestId('sign-in-error')).toHaveTextContent(
      'Too many failed sign-ins. Try again later, or reset your password. You can try again in 2 minutes.',
    )
  })

  it('offers a new confirmation link when the address is not confirmed yet', async () => {
    const fetchMock = mockApi({
      'POST /auth/login': () =>
        errorResponse(
          403,
          'M_EMAIL_NOT_VERIFIED',
          'Confirm your email address first: open the link we mailed you.',
        ),
      'POST /account/verify-email/resend': () => jsonResponse({ accepted: true }, { status: 202 }),
    })
    const user = userEvent.setup()
    renderApp('/sign-in')

    await signIn(user, 'alice@org-a.example', 'correct horse battery')

    const alert = await screen.findByTestId('sign-in-unverified')
    expect(alert).toHaveTextContent('Confirm your email address first')
    await user.click(within(alert).getByRole('button', { name: 'Send a new link' }))

    expect(await screen.findByText(/a new link is on its way/i)).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /account/verify-email/resend')[0]?.body).toEqual({
      email: 'alice@org-a.example',
    })
  })

  it('asks for the address when the user signed in with a username', async () => {
    mockApi({
      'POST /auth/login': () =>
        errorResponse(403, 'M_EMAIL_NOT_VERIFIED', 'Confirm your email address first.'),
    })
    const user = userEvent.setup()
    const { router } = renderApp('/sign-in')

    await signIn(user, 'alice', 'correct horse battery')
    await user.click(await screen.findByRole('button', { name: 'Send a new link' }))

    expect(await screen.findByLabelText('Email')).toBeVisible()
    expect(router.state.location.pathname).toBe('/check-email')
  })

  it('requires both fields', async () => {
    const fetchMock = mockApi({})
    const user = userEvent.setup()
    renderApp('/sign-in')

    await user.click(await screen.findByRole('button', { name: 'Sign in' }))

    expect(screen.getByLabelText('Username or email')).toHaveAccessibleDescription(
      'Enter your username or email address.',
    )
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription('Enter your password.')
    expect(callsTo(fetchMock, 'POST /auth/login')).toHaveLength(0)
  })

  it('links to sign-up and to password recovery', async () => {
    mockApi({})
    renderApp('/sign-in')

    expect(await screen.findByRole('link', { name: 'Create an account' })).toHaveAttribute(
      'href',
      '/sign-up',
    )
    expect(screen.getByRole('link', { name: 'Forgot password?' })).toHaveAttribute(
      'href',
      '/forgot-password',
    )
  })
})

describe('protected pages', () => {
  it('send a signed-out visitor to sign in, and back after signing in', async () => {
    mockApi({
      'POST /auth/login': () => jsonResponse(testTokens),
      'GET /auth/sessions': () => jsonResponse({ sessions: [] }),
    })
    const user = userEvent.setup()
    const { router } = renderApp('/sessions')

    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sign-in')
    })
    await signIn(user, 'alice', 'correct horse battery')

    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sessions')
    })
    expect(await screen.findByRole('heading', { level: 1, name: 'Sessions' })).toBeVisible()
  })

  it('wait for the session to be restored from the cookie at start-up', async () => {
    let answerRefresh: (response: Response) => void = () => undefined
    const fetchMock = mockApi({
      'POST /auth/refresh': () =>
        new Promise<Response>((resolve) => {
          answerRefresh = resolve
        }),
      'GET /account/profile': () => jsonResponse(profile),
    })
    const { router } = renderApp('/profile', { session: restoringSession(), strict: true })

    expect(await screen.findByText('Restoring your session…')).toBeVisible()
    answerRefresh(jsonResponse(testTokens))
    expect(await screen.findByTestId('profile-user-id')).toHaveTextContent(testTokens.user_id)
    expect(router.state.location.pathname).toBe('/profile')
    // StrictMode runs the restoring effect twice; the refresh token must be used only once.
    expect(callsTo(fetchMock, 'POST /auth/refresh')).toHaveLength(1)
  })

  it('go to sign in when there is no session to restore', async () => {
    mockApi({
      'POST /auth/refresh': () => errorResponse(401, 'M_MISSING_TOKEN', 'No refresh token.'),
    })
    const { router } = renderApp('/profile', { session: restoringSession() })

    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible()
    expect(router.state.location.pathname).toBe('/sign-in')
    // Nobody was signed in, so nothing "ended".
    expect(screen.queryByText('Your session has ended')).not.toBeInTheDocument()
  })
})
