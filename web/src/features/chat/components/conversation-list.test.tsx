import { screen, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'

import { jsonResponse, mockApi, renderApp, testSession, testTokens } from '@/testing/test-utils'

const me = testTokens.user_id // on org-a.example

function direct(roomId: string, other: string) {
  return {
    room_id: roomId,
    kind: 'direct',
    members: [
      { user_id: me, role: 'owner', delivered_seq: 0, read_seq: 0, online: true },
      { user_id: other, role: 'member', delivered_seq: 0, read_seq: 0, online: true },
    ],
    my_role: 'owner',
    unread_count: 0,
    read_seq: 0,
  }
}

describe('conversation list', () => {
  it('shows the server of a remote person, and local people as before', async () => {
    mockApi({
      'GET /rooms': () =>
        jsonResponse({
          rooms: [
            direct('!a:org-b.example', '@bob:org-b.example'),
            direct('!b:org-a.example', '@cy:org-a.example'),
          ],
        }),
    })
    renderApp('/chats', { session: testSession(testTokens) })
    const [remote, local] = await screen.findAllByTestId('conversation')
    if (!remote || !local) throw new Error('expected two conversations')
    expect(within(remote).getByTestId('server-badge')).toHaveTextContent('org-b.example')
    expect(within(remote).getByTitle('@bob:org-b.example')).toHaveTextContent(
      'bob of org-b.example',
    )
    expect(within(local).queryByTestId('server-badge')).toBeNull()
    expect(within(local).getByText('@cy:org-a.example')).toBeVisible()
  })
})
