import { screen, waitFor, within } from '@testing-library/react'
import userEvent, { type UserEvent } from '@testing-library/user-event'
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

const accepted = () => jsonResponse({ accepted: true }, { status: 202 })

async function fillSignUp(
  user: UserEvent,
  values: Partial<Record<'username' | 'email' | 'fullName' | 'password' | 'confirm', string>>,
) {
  const fields = {
    username: 'Username',
    email: 'Email',
    fullName: 'Full name',
    password: 'Password',
    confirm: 'Confirm password',
  } as const
  for (const [key, label] of Object.entries(fields)) {
    const value = values[key as keyof typeof fields]
    if (value !== undefined) await user.type(screen.getByLabelText(label), value)
  }
}

const valid = {
  username: ' Alice.L ',
  email: 'alice@org-a.example',
  fullName: 'Alice Liddell',
  password: 'correct horse battery',
  confirm: 'correct horse battery',
}

describe('sign-up page', () => {
  it('checks every field before sending anything, and focuses the first problem', async () => {
    const fetchMock = mockApi({})
    const user = userEvent.setup()
    renderApp('/sign-up')
    await screen.findByRole('heading', { level: 1, name: 'Create your account' })

    await user.click(screen.getByRole('button', { name: 'Create account' }))

    expect(screen.getByLabelText('Username')).toHaveAttribute('aria-invalid', 'true')
    expect(screen.getByLabelText('Username')).toHaveAccessibleDescription(/choose a username/i)
    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription(/enter your email address/i)
    expect(screen.getByLabelText('Full name')).toHaveAccessibleDescription('Enter your full name.')
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription(
      /use at least 8 characters/i,
    )
    expect(screen.getByLabelText('Username')).toHaveFocus()
    expect(callsTo(fetchMock, 'POST /account/register')).toHaveLength(0)
  })

  it('explains bad usernames and mismatched passwords, and clears errors once fixed', async () => {
    mockApi({})
    const user = userEvent.setup()
    renderApp('/sign-up')
    await screen.findByLabelText('Username')

    await fillSignUp(user, { ...valid, username: 'alice!', confirm: 'correct horse battery?' })
    await user.click(screen.getByRole('button', { name: 'Create account' }))

    expect(screen.getByLabelText('Username')).toHaveAccessibleDescription(
      /use only letters a-z, digits and \. _ = -/i,
    )
    expect(screen.getByLabelText('Confirm password')).toHaveAccessibleDescription(
      'The passwords do not match.',
    )

    await user.type(screen.getByLabelText('Confirm password'), '{Backspace}')
    expect(screen.getByLabelText('Confirm password')).not.toHaveAttribute('aria-invalid')
  })

  it('shows the user id the username makes', async () => {
    mockApi({})
    const user = userEvent.setup()
    renderApp('/sign-up')
    await screen.findByLabelText('Username')

    await user.type(screen.getByLabelText('Username'), 'Alice')

    expect(await screen.findByTestId('user-id-preview')).toHaveTextContent('@alice:org-a.example')
  })

  it('creates the account and moves on to "check your email", which can resend the link', async () => {
    const fetchMock = mockApi({
      'POST /account/register': accepted,
      'POST /account/verify-email/resend': accepted,
    })
    const user = userEvent.setup()
    const { router } = renderApp('/sign-up')
    await screen.findByLabelText('Username')

    await fillSignUp(user, valid)
    await user.click(screen.getByRole('button', { name: 'Create account' }))

    expect(await screen.findByRole('heading', { level: 1, name: 'Check your email' })).toBeVisible()
    expect(router.state.location.pathname).toBe('/check-email')
    expect(screen.getByTestId('check-email-address')).toHaveTextContent('alice@org-a.example')
    // What the server got: the username as the server will store it, no confirmation field.
    expect(callsTo(fetchMock, 'POST /account/register')[0]?.body).toEqual({
      username: 'alice.l',
      email: 'alice@org-a.example',
      full_name: 'Alice Liddell',
      password: 'correct horse battery',
    })

    await user.click(screen.getByRole('button', { name: 'Send the link again' }))

    expect(await screen.findByText(/a new link is on its way/i)).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /account/verify-email/resend')[0]?.body).toEqual({
      email: 'alice@org-a.example',
    })
  })

  it.each([
    ['M_USER_IN_USE', 409, 'This username is taken.', 'Username'],
    ['M_INVALID_USERNAME', 400, 'A username has 1 to 64 characters.', 'Username'],
    ['M_WEAK_PASSWORD', 400, 'This password is too common.', 'Password'],
  ])('shows %s next to its field', async (errcode, status, message, label) => {
    mockApi({ 'POST /account/register': () => errorResponse(status, errcode, message) })
    const user = userEvent.setup()
    const { router } = renderApp('/sign-up')
    await screen.findByLabelText('Username')

    await fillSignUp(user, valid)
    await user.click(screen.getByRole('button', { name: 'Create account' }))

    await waitFor(() => {
      expect(screen.getByLabelText(label)).toHaveAccessibleDescription(
        expect.stringContaining(message),
      )
    })
    expect(screen.getByLabelText(label)).toHaveAttribute('aria-invalid', 'true')
    expect(screen.getByLabelText(label)).toHaveFocus()
    expect(screen.queryByTestId('sign-up-error')).not.toBeInTheDocument()
    expect(router.state.location.pathname).toBe('/sign-up')
  })

  it('shows other refusals above the form', async () => {
    mockApi({
      'POST /account/register': () =>
        errorResponse(400, 'M_INVALID_PARAM', 'This is not a valid email address.'),
    })
    const user = userEvent.setup()
    renderApp('/sign-up')
    await screen.findByLabelText('Username')

    await fillSignUp(user, valid)
    await user.click(screen.getByRole('button', { name: 'Create account' }))

    const alert = await screen.findByTestId('sign-up-error')
    expect(alert).toHaveAttribute('role', 'alert')
    expect(within(alert).getByText('This is not a valid email address.')).toBeVisible()
  })

  it('is busy while the request is under way, and sends it once', async () => {
    let answer: (response: Response) => void = () => undefined
    const fetchMock = mockApi({
      'POST /account/register': () =>
        new Promise<Response>((resolve) => {
          answer = resolve
        }),
    })
    const user = userEvent.setup()
    renderApp('/sign-up')
    await screen.findByLabelText('Username')
    await fillSignUp(user, valid)

    await user.click(screen.getByRole('button', { name: 'Create account' }))
    const busy = await screen.findByRole('button', { name: 'Creating account…' })
    expect(busy).toHaveAttribute('aria-disabled', 'true')
    await user.click(busy)

    answer(accepted())
    expect(await screen.findByRole('heading', { name: 'Check your email' })).toBeVisible()
    expect(callsTo(fetchMock, 'POST /account/register')).toHaveLength(1)
  })

  it('sends a signed-in user to their chats', async () => {
    mockApi({ 'GET /rooms': () => errorResponse(500, 'M_UNKNOWN', 'x') })
    const { router } = renderApp('/sign-up', { session: testSession(testTokens) })

    await waitFor(() => {
      expect(router.state.location.pathname).toBe('/chats')
    })
  })
})

describe('check-email page without an address', () => {
  it('asks for the address to send a new link to', async () => {
    const fetchMock = mockApi({ 'POST /account/verify-email/resend': accepted })
    const user = userEvent.setup()
    renderApp('/check-email')

    await user.click(await screen.findByRole('button', { name: 'Send a new link' }))
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true')

    await user.type(screen.getByLabelText('Email'), 'bob@org-a.example')
    await user.click(screen.getByRole('button', { name: 'Send a new link' }))

    expect(await screen.findByText(/a new link is on its way/i)).toBeInTheDocument()
    expect(callsTo(fetchMock, 'POST /account/verify-email/resend')[0]?.body).toEqual({
      email: 'bob@org-a.example',
    })
  })
})
