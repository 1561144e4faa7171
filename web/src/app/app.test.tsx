import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'

import {
  jsonResponse,
  mockApi,
  mockFetch,
  renderApp,
  testSession,
  testTokens,
} from '@/testing/test-utils'

const serverInfo = { server_name: 'org-a.example', version: '0.1.0' }

describe('home screen', () => {
  it('shows skeletons, then welcomes the user to the server named by the API', async () => {
    const fetchMock = mockFetch(() => jsonResponse(serverInfo))

    renderApp('/')

    expect(screen.getByRole('status')).toHaveTextContent(/loading server information/i)
    expect(await screen.findByTestId('server-name')).toHaveTextContent('org-a.example')
    expect(screen.getByTestId('server-version')).toHaveTextContent('0.1.0')
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('org-a.example')
    expect(screen.getByText(/end-to-end encrypted messaging for your organisation/i)).toBeVisible()
    // The top bar names the server too.
    expect(within(screen.getByRole('banner')).getByText('org-a.example')).toBeVisible()
    expect(document.title).toBe('org-a.example · Parley')
    // The shell and the welcome card share one request.
    expect(fetchMock).toHaveBeenCalledTimes(1)
    expect(fetchMock.mock.calls[0]?.[0]).toBe('/api/v1/server')
  })

  it('has the landmarks of a page', async () => {
    mockFetch(() => jsonResponse(serverInfo))

    renderApp('/')

    await screen.findByTestId('server-name')
    expect(screen.getByRole('banner')).toBeInTheDocument()
    expect(screen.getByRole('main')).toBeInTheDocument()
    expect(screen.getByRole('contentinfo')).toBeInTheDocument()
    expect(screen.getByRole('link', { name: /parley, home/i })).toHaveAttribute('href', '/')
  })

  it('leads to the sign-in form when signed out', async () => {
    mockFetch(() => jsonResponse(serverInfo))
    const user = userEvent.setup()
    const { router } = renderApp('/')

    await screen.findByTestId('server-name')
    await user.click(within(screen.getByRole('main')).getByRole('link', { name: 'Sign in' }))

    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible()
    expect(router.state.location.pathname).toBe('/sign-in')
    expect(screen.getByLabelText('Username or email')).toBeVisible()
    await waitFor(() => {
      expect(document.title).toBe('Sign in · org-a.example · Parley')
    })

    await user.click(screen.getByRole('link', { name: /parley, home/i }))
    expect(router.state.location.pathname).toBe('/')
    expect(await screen.findByTestId('server-name')).toBeVisible()
  })

  it('takes a signed-in user to their conversations instead', async () => {
    mockApi({ 'GET /rooms': () => jsonResponse({ rooms: [] }) })
    const { router } = renderApp('/', { session: testSession(testTokens) })

    expect(await screen.findByRole('heading', { level: 1, name: 'Chats' })).toBeVisible()
    expect(router.state.location.pathname).toBe('/chats')
    expect(screen.queryByRole('link', { name: 'Sign in' })).not.toBeInTheDocument()
    expect(
      screen.getByRole('button', { name: `Account menu for ${testTokens.user_id}` }),
    ).toBeVisible()
    expect(await screen.findByText(/no conversations yet/i)).toBeVisible()
  })

  it('shows an error with a toast when the server cannot be reached, and recovers on Retry', async () => {
    let reachable = false
    const fetchMock = mockFetch(() => {
      if (!reachable) throw new TypeError('Failed to fetch')
      return jsonResponse(serverInfo)
    })
    const user = userEvent.setup()
    renderApp('/')

    const alert = await screen.findByRole('alert')
    expect(within(alert).getByRole('heading', { level: 1 })).toHaveTextContent('Server unreachable')
    expect(alert).toHaveTextContent(/could not connect to the server/i)
    expect(screen.queryByTestId('server-name')).not.toBeInTheDocument()
    // The toast, rendered by sonner outside the card.
    expect(await screen.findByText('Could not load server information')).toBeInTheDocument()

    reachable = true
    await user.click(within(alert).getByRole('button', { name: 'Retry' }))

    expect(await screen.findByTestId('server-name')).toHaveTextContent('org-a.example')
    expect(screen.queryByRole('alert')).not.toBeInTheDocument()
    expect(fetchMock).toHaveBeenCalledTimes(2)
  })

  it('explains a response it does not understand', async () => {
    mockFetch(() => jsonResponse({ name: 'org-a.example' }))

    renderApp('/')

    const alert = await screen.findByRole('alert')
    expect(within(alert).getByRole('heading', { level: 1 })).toHaveTextContent(
      'Unexpected response',
    )
    expect(within(alert).getByRole('button', { name: 'Retry' })).toBeVisible()
  })

  it("passes on the server's own error message", async () => {
    mockFetch(() =>
      jsonResponse({ errcode: 'UNAVAILABLE', error: 'Database is down' }, { status: 503 }),
    )

    renderApp('/')

    const alert = await screen.findByRole('alert')
    expect(alert).toHaveTextContent('Server error')
    expect(alert).toHaveTextContent('Database is down (UNAVAILABLE, HTTP 503)')
  })
})

describe('unknown routes', () => {
  it('render the 404 page inside the shell', async () => {
    mockFetch(() => jsonResponse(serverInfo))

    renderApp('/some/deep/client/route')

    const notFound = screen.getByTestId('not-found')
    expect(within(notFound).getByRole('heading', { level: 1 })).toHaveTextContent('Page not found')
    expect(notFound).toHaveTextContent('/some/deep/client/route')
    expect(screen.getByRole('link', { name: /home page/i })).toHaveAttribute('href', '/')
    await waitFor(() => {
      expect(document.title).toBe('Page not found · org-a.example · Parley')
    })
  })
})
