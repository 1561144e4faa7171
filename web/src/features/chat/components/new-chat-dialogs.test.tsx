import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import {
  callsTo,
  errorResponse,
  installDialogPolyfill,
  jsonResponse,
  mockApi,
  renderApp,
  testSession,
  testTokens,
} from '@/testing/test-utils'

installDialogPolyfill()

const me = testTokens.user_id // on org-a.example

function directRoom(other: string) {
  return {
    room_id: '!dm:org-a.example',
    kind: 'direct',
    members: [
      { user_id: me, role: 'owner', delivered_seq: 0, read_seq: 0, online: true },
      { user_id: other, role: 'member', delivered_seq: 0, read_seq: 0, online: false },
    ],
    my_role: 'owner',
    unread_count: 0,
    read_seq: 0,
  }
}

async function openDialog(name: 'New chat' | 'New group') {
  const user = userEvent.setup()
  await user.click(await screen.findByRole('button', { name }))
  return { user, form: screen.getByRole('form', { name }) }
}

describe('new chat and new group', () => {
  it('starts a direct chat with someone of another organisation by their full address', async () => {
    const fetchMock = mockApi({
      'GET /rooms': () => jsonResponse({ rooms: [] }),
      'POST /rooms': () => jsonResponse(directRoom('@bob:org-b.example')),
    })
    renderApp('/chats', { session: testSession(testTokens) })
    const { user, form } = await openDialog('New chat')
    const address = within(form).getByRole('textbox', { name: 'Address' })
    expect(address).toHaveAccessibleDescription(
      /other organisations are added by their full address/,
    )

    await user.type(address, '@bob:org-b.example')
    await user.click(within(form).getByRole('button', { name: 'Start chat' }))
    await waitFor(() => {
      expect(callsTo(fetchMock, 'POST /rooms')).toHaveLength(1)
    })
    expect(callsTo(fetchMock, 'POST /rooms')[0]?.body).toEqual({
      kind: 'direct',
      with: '@bob:org-b.example',
    })
  })

  it('wants a full address, also for people of the user’s own server', async () => {
    const fetchMock = mockApi({ 'GET /rooms': () => jsonResponse({ rooms: [] }) })
    renderApp('/chats', { session: testSession(testTokens) })
    const { user, form } = await openDialog('New chat')
    const address = within(form).getByRole('textbox', { name: 'Address' })
    expect(address).toHaveAccessibleDescription(/Addresses look like @name:org-a\.example/)
    await user.type(address, 'bob{Enter}')
    expect(address).toHaveAccessibleDescription(/Enter an address like @name:server\./)
    expect(callsTo(fetchMock, 'POST /rooms')).toHaveLength(0)
  })

  it('refuses a malformed address before asking the server', async () => {
    const fetchMock = mockApi({ 'GET /rooms': () => jsonResponse({ rooms: [] }) })
    renderApp('/chats', { session: testSession(testTokens) })
    const { user, form } = await openDialog('New chat')
    const address = within(form).getByRole('textbox', { name: 'Address' })
    await user.type(address, '@bob:org_b{Enter}')
    expect(address).toHaveAccessibleDescription(/after the colon comes a server/)
    expect(address).toHaveAttribute('aria-invalid', 'true')
    expect(callsTo(fetchMock, 'POST /rooms')).toHaveLength(0)
  })

  it('shows the server’s message when the other server cannot be reached', async () => {
    mockApi({
      'GET /rooms': () => jsonResponse({ rooms: [] }),
      'POST /rooms': () =>
        errorResponse(504, 'M_UNAVAILABLE', 'org-b.example did not answer in time.'),
    })
    renderApp('/chats', { session: testSession(testTokens) })
    const { user, form } = await openDialog('New chat')
    await user.type(within(form).getByRole('textbox', { name: 'Address' }), '@bob:org-b.example')
    await user.click(within(form).getByRole('button', { name: 'Start chat' }))
    expect(await within(form).findByRole('alert')).toHaveTextContent(
      'org-b.example did not answer in time.',
    )
  })

  it('creates a group with local and remote members, and names each bad address', async () => {
    const fetchMock = mockApi({
      'GET /rooms': () => jsonResponse({ rooms: [] }),
      'POST /rooms': () =>
        jsonResponse({ ...directRoom('@bob:org-a.example'), kind: 'group', name: 'Partners' }),
    })
    renderApp('/chats', { session: testSession(testTokens) })
    const { user, form } = await openDialog('New group')
    await user.type(within(form).getByRole('textbox', { name: 'Name' }), 'Partners')
    const members = within(form).getByRole('textbox', { name: 'Members' })
    await user.type(members, '@bob:org-a.example, @cy:org-b.example @x:')
    await user.click(within(form).getByRole('button', { name: 'Create group' }))
    expect(members).toHaveAccessibleDescription(/Not an address: @x: \(use @name:server\)/)
    expect(callsTo(fetchMock, 'POST /rooms')).toHaveLength(0)

    await user.clear(members)
    await user.type(members, '@bob:org-a.example, @cy:org-b.example')
    await user.click(within(form).getByRole('button', { name: 'Create group' }))
    await waitFor(() => {
      expect(callsTo(fetchMock, 'POST /rooms')[0]?.body).toEqual({
        kind: 'group',
        name: 'Partners',
        members: ['@bob:org-a.example', '@cy:org-b.example'],
      })
    })
  })
})
