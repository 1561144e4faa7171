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

describe('forgot-password page', () => {
  it('asks for a link and answers neutrally, whatever the server found', async () => {
    const fetchMock = mockApi({
      'POST /account/password/forgot': () => jsonResponse({ accepted: true }, { status: 202 }),
    })
    const user = userEvent.setup()
    renderApp('/forgot-password')

    await user.type(await screen.findByLabelText('Email'), 'alice@org-a.example')
    await user.click(screen.getByRole('button', { name: 'Send reset link' }))

    const status = await screen.findByRole('status')
    expect(status).toHaveTextContent(
      'If an account uses alice@org-a.example, we sent it a link to choose a new password.',
    )
    expect(callsTo(fetchMock, 'POST /account/password/forgot')[0]?.body).toEqual({
      email: 'alice@org-a.example',
    })
  })

  it('checks the address first', async () => {
    const fetchMock = mockApi({})
    const user = userEvent.setup()
    renderApp('/forgot-password')

    await user.type(await screen.findByLabelText('Email'), 'not-an-address')
    await user.click(screen.getByRole('button', { name: 'Send reset link' }))

    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription(
      /enter a valid email address/i,
    )
    expect(fetchMock).not.toHaveBeenCalledWith('/api/v1/account/password/forgot', expect.anything())
  })
})

describe('reset-password page', () => {
  async function choosePassword(password: string, confirm = password) {
    const user = userEvent.setup()
    await user.type(await screen.findByLabelText('New password'), password)
    await user.type(screen.getByLabelText('Confirm new password'), confirm)
    await user.click(screen.getByRole('button', { name: 'Set new password' }))
    return user
  }

  it('sets the new password, says that every session ended, and goes to sign in', async () => {
    const fetchMock = mockApi({
      'POST /account/password/reset': () => jsonResponse({ accepted: true }),
    })
    const { router } = renderApp('/reset-password?token=reset-1')

    await choosePassword('a much better password')

    expect(await screen.findByText('Your password was changed')).toBeInTheDocument()
    expect(screen.getByText(/every session of your account was signed out/i)).toBeInTheDocument()
    expect(router.state.location.pathname).toBe('/sign-in')
    expect(callsTo(fetchMock, 'POST /account/password/reset')[0]?.body).toEqual({
      token: 'reset-1',
      new_password: 'a much better password',
    })
  })

  it('signs this browser out too, if it was signed in', async () => {
    mockApi({ 'POST /account/password/reset': () => jsonResponse({ accepted: true }) })
    const session = testSession(testTokens)
    renderApp('/reset-password?token=reset-1', { session })

    await choosePassword('a much better password')

    await waitFor(() => {
      expect(session.getState()).toEqual({ status: 'signed-out', reason: 'signed-out' })
    })
  })

  it('puts a weak password next to the field', async () => {
    mockApi({
      'POST /account/password/reset': () =>
        errorResponse(400, 'M_WEAK_PASSWORD', 'This password is too common.'),
    })
    renderApp('/reset-password?token=reset-1')

    await choosePassword('password123')

    await waitFor(() => {
      expect(screen.getByLabelText('New password')).toHaveAccessibleDescription(
        expect.stringContaining('This password is too common.'),
      )
    })
  })

  it('explains a dead link and offers a new one', async () => {
    mockApi({
      'POST /account/password/reset': () =>
        errorResponse(401, 'M_UNKNOWN_TOKEN', 'This link is invalid, already used or expired.'),
    })
    const { router } = renderApp('/reset-password?token=old')

    const user = await choosePassword('a much better password')

    const alert = await screen.findByTestId('reset-password-error')
    expect(alert).toHaveTextContent('This link is invalid, already used or expired.')
    await user.click(within(alert).getByRole('link', { name: 'Request a new link' }))
    expect(router.state.location.pathname).toBe('/forgot-password')
  })

  it('refuses mismatched passwords and counts characters as the server does', async () => {
    const fetchMock = mockApi({})
    renderApp('/reset-password?token=reset-1')

    // Seven emoji: 14 UTF-16 units, but 7 characters, one short of the minimum.
    await choosePassword('😀'.repeat(7), '😀'.repeat(6))

    expect(screen.getByLabelText('New password')).toHaveAccessibleDescription(
      expect.stringContaining('Use at least 8 characters.'),
    )
    expect(screen.getByLabelText('Confirm new password')).toHaveAccessibleDescription(
      'The passwords do not match.',
    )
    expect(callsTo(fetchMock, 'POST /account/password/reset')).toHaveLength(0)
  })

  it('says so when the link has no token', async () => {
    mockApi({})
    renderApp('/reset-password')

    expect(
      await screen.findByRole('heading', { level: 1, name: 'This link is incomplete' }),
    ).toBeVisible()
  })
})
