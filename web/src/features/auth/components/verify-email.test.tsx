import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import { callsTo, errorResponse, jsonResponse, mockApi, renderApp } from '@/testing/test-utils'

const verified = { user_id: '@alice:org-a.example', email: 'alice@org-a.example' }

describe('verify-email page', () => {
  it('confirms the address once, even under StrictMode, then offers to sign in', async () => {
    const fetchMock = mockApi({ 'POST /account/verify-email': () => jsonResponse(verified) })
    const user = userEvent.setup()
    const { router } = renderApp('/verify-email?token=tok-123', { strict: true })

    expect(
      await screen.findByRole('heading', { level: 1, name: 'Email address confirmed' }),
    ).toBeVisible()
    expect(screen.getByTestId('verified-email')).toHaveTextContent('alice@org-a.example')
    expect(screen.getByText('@alice:org-a.example')).toBeVisible()
    // A token works once: a second request would have failed and shown an error.
    expect(callsTo(fetchMock, 'POST /account/verify-email')).toEqual([
      expect.objectContaining({ body: { token: 'tok-123' } }),
    ])

    await user.click(within(screen.getByRole('main')).getByRole('link', { name: 'Sign in' }))
    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/sign-in')
    })
  })

  it('says what it is doing while the server confirms', async () => {
    mockApi({ 'POST /account/verify-email': () => new Promise<Response>(() => undefined) })
    renderApp('/verify-email?token=tok-123')

    expect(await screen.findByText('Confirming your email address…')).toBeVisible()
  })

  it('explains an invalid, used or expired link and offers a new one', async () => {
    mockApi({
      'POST /account/verify-email': () =>
        errorResponse(401, 'M_UNKNOWN_TOKEN', 'This link is invalid, already used or expired.'),
    })
    const user = userEvent.setup()
    const { router } = renderApp('/verify-email?token=used')

    const heading = await screen.findByRole('heading', {
      level: 1,
      name: 'This link no longer works',
    })
    expect(heading).toBeVisible()
    expect(screen.getByRole('alert')).toHaveTextContent(
      'This link is invalid, already used or expired.',
    )

    await user.click(screen.getByRole('link', { name: 'Request a new link' }))
    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/check-email')
    })
  })

  it('lets the user try again when the server could not be reached', async () => {
    let reachable = false
    const fetchMock = mockApi({
      'POST /account/verify-email': () => {
        if (!reachable) throw new TypeError('Failed to fetch')
        return jsonResponse(verified)
      },
    })
    const user = userEvent.setup()
    renderApp('/verify-email?token=tok-123')

    expect(await screen.findByRole('heading', { name: 'Server unreachable' })).toBeVisible()
    reachable = true
    await user.click(screen.getByRole('button', { name: 'Try again' }))

    expect(await screen.findByRole('heading', { name: 'Email address confirmed' })).toBeVisible()
    expect(callsTo(fetchMock, 'POST /account/verify-email')).toHaveLength(2)
  })

  it('says so when the link has no token, without asking the server', async () => {
    const fetchMock = mockApi({})
    renderApp('/verify-email')

    expect(
      await screen.findByRole('heading', { level: 1, name: 'This link is incomplete' }),
    ).toBeVisible()
    expect(callsTo(fetchMock, 'POST /account/verify-email')).toHaveLength(0)
  })
})
