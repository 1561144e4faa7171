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
  display_name: 'Alice',
  created_at: '2026-11-24T10:00:00Z',
}

function renderProfile(handlers: Parameters<typeof mockApi>[0] = {}) {
  const fetchMock = mockApi({ 'GET /account/profile': () => jsonResponse(profile), ...handlers })
  const result = renderApp('/profile', { session: testSession(testTokens) })
  return { ...result, fetchMock, user: userEvent.setup() }
}

describe('profile page', () => {
  it('shows who the user is', async () => {
    renderProfile()

    expect(await screen.findByTestId('profile-user-id')).toHaveTextContent('@alice:org-a.example')
    expect(screen.getByTestId('profile-email')).toHaveTextContent('alice@org-a.example')
    expect(screen.getByTestId('profile-full-name')).toHaveTextContent('Alice Liddell')
    expect(screen.getByTestId('profile-display-name')).toHaveTextContent('Alice')
    expect(screen.getByRole('heading', { level: 1, name: 'Your profile' })).toBeVisible()
    await waitFor(() => {
      expect(document.title).toBe('Profile · org-a.example · Parley')
    })
  })

  it('saves names; an empty display name removes it', async () => {
    const { fetchMock, user } = renderProfile({
      'PATCH /account/profile': ({ body }) => {
        const { full_name, display_name } = body as { full_name: string; display_name: string }
        return jsonResponse({ ...profile, full_name, display_name: display_name || null })
      },
    })
    const form = within(await screen.findByRole('form', { name: 'Names' }))

    await user.clear(form.getByLabelText('Full name'))
    await user.type(form.getByLabelText('Full name'), '  Alice P. Liddell ')
    await user.clear(form.getByLabelText('Display name'))
    await user.click(form.getByRole('button', { name: 'Save names' }))

    expect(await screen.findByText('Profile saved')).toBeInTheDocument()
    expect(callsTo(fetchMock, 'PATCH /account/profile')[0]?.body).toEqual({
      full_name: 'Alice P. Liddell',
      display_name: '',
    })
    expect(screen.getByTestId('profile-full-name')).toHaveTextContent('Alice P. Liddell')
    expect(screen.getByTestId('profile-display-name')).toHaveTextContent(/not set/i)
  })

  it('changes the password and says the other sessions were signed out', async () => {
    const { fetchMock, user } = renderProfile({
      'POST /account/password': () => jsonResponse({ accepted: true }),
    })
    const form = within(await screen.findByRole('form', { name: 'Change password' }))

    await user.type(form.getByLabelText('Current password'), 'old password 1')
    await user.type(form.getByLabelText('New password'), 'new password 22')
    await user.type(form.getByLabelText('Confirm new password'), 'new password 22')
    await user.click(form.getByRole('button', { name: 'Change password' }))

    expect(await screen.findByText('Password changed')).toBeInTheDocument()
    expect(screen.getByText(/your other sessions were signed out/i)).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /account/password')[0]?.body).toEqual({
      current_password: 'old password 1',
      new_password: 'new password 22',
    })
    expect(form.getByLabelText('Current password')).toHaveValue('')
  })

  it.each([
    ['M_FORBIDDEN', 403, 'The current password is wrong.', 'Current password'],
    ['M_WEAK_PASSWORD', 400, 'This password is too common.', 'New password'],
  ])('puts %s of a password change next to its field', async (errcode, status, message, label) => {
    const { user } = renderProfile({
      'POST /account/password': () => errorResponse(status, errcode, message),
    })
    const form = within(await screen.findByRole('form', { name: 'Change password' }))

    await user.type(form.getByLabelText('Current password'), 'old password 1')
    await user.type(form.getByLabelText('New password'), 'new password 22')
    await user.type(form.getByLabelText('Confirm new password'), 'new password 22')
    await user.click(form.getByRole('button', { name: 'Change password' }))

    await waitFor(() => {
      expect(form.getByLabelText(label)).toHaveAccessibleDescription(
        expect.stringContaining(message),
      )
    })
    expect(form.getByLabelText(label)).toHaveFocus()
  })

  it('starts a change of address and says to check the new one', async () => {
    const { fetchMock, user } = renderProfile({
      'POST /account/email': () => jsonResponse({ accepted: true }, { status: 202 }),
    })
    const form = within(await screen.findByRole('form', { name: 'Change email address' }))

    await user.type(form.getByLabelText('New email address'), 'alice@new.example')
    await user.type(form.getByLabelText('Password'), 'my password')
    await user.click(form.getByRole('button', { name: 'Change email' }))

    expect(await screen.findByTestId('email-change-pending')).toHaveTextContent(
      'We sent a link to alice@new.example. Until you open it, alice@org-a.example stays your address.',
    )
    expect(callsTo(fetchMock, 'POST /account/email')[0]?.body).toEqual({
      new_email: 'alice@new.example',
      password: 'my password',
    })
  })

  it('offers to retry when the profile cannot be loaded', async () => {
    let reachable = false
    mockApi({
      'GET /account/profile': () => {
        if (!reachable) return errorResponse(503, 'M_UNAVAILABLE', 'Database is down')
        return jsonResponse(profile)
      },
    })
    const user = userEvent.setup()
    renderApp('/profile', { session: testSession(testTokens) })

    const alert = await screen.findByRole('alert')
    expect(alert).toHaveTextContent('Database is down')
    reachable = true
    await user.click(within(alert).getByRole('button', { name: 'Retry' }))

    expect(await screen.findByTestId('profile-user-id')).toBeVisible()
  })
})
