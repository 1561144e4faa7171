import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'

import type { RoomSummary } from '@/features/chat/api/rooms'
import { EncryptionStatus } from '@/features/chat/components/encryption-status'
import type { VerificationStore } from '@/features/chat/model/verification-store'
import { E2eeContext, type E2eeState } from '@/features/chat/realtime-context'
import type { DeviceInfo, E2eeClient, IdentityInfo } from '@/lib/crypto/e2ee-client'
import { installDialogPolyfill } from '@/testing/test-utils'

const ME = '@ann:test'
const BOB = '@bob:test'

const room: RoomSummary = {
  room_id: '!dm:test',
  kind: 'direct',
  members: [
    { user_id: ME, role: 'owner', delivered_seq: 0, read_seq: 0, online: true },
    { user_id: BOB, role: 'member', delivered_seq: 0, read_seq: 0, online: true },
  ],
  my_role: 'owner',
  unread_count: 0,
  read_seq: 0,
}

function device(userId: string, deviceId: string, verified: boolean): DeviceInfo {
  return {
    userId,
    deviceId,
    displayName: undefined,
    ed25519: 'AAAABBBBCCCC',
    verified,
    crossSignedByOwner: verified,
    firstSeenMs: 0,
    isOwnDevice: deviceId === 'MINE',
  }
}

/** A client that knows Bob (one device) and Ann; only what the status and details read. */
function fakeClient(bobVerified: boolean) {
  const identities: Record<string, IdentityInfo> = {
    [ME]: { userId: ME, hasIdentity: true, verified: true },
    [BOB]: { userId: BOB, hasIdentity: true, verified: bobVerified },
  }
  const devices: Record<string, DeviceInfo[]> = {
    [ME]: [device(ME, 'MINE', true)],
    [BOB]: [device(BOB, 'BOBPHONE', bobVerified)],
  }
  const off = () => undefined
  return {
    identity: (userId: string) => Promise.resolve(identities[userId]),
    userDevices: (userId: string) => Promise.resolve(devices[userId] ?? []),
    trackUsers: () => Promise.resolve(),
    devices: { on: () => off },
    trustChanged: { on: () => off },
  } as unknown as E2eeClient
}

function renderStatus(state: E2eeState) {
  return render(
    <E2eeContext value={state}>
      <EncryptionStatus room={room} me={ME} />
    </E2eeContext>,
  )
}

const startVerification = vi.fn<(userId: string, deviceId: string) => Promise<void>>(() =>
  Promise.resolve(),
)
const setUpCrossSigning = vi.fn<(password: string) => Promise<void>>(() => Promise.resolve())

function ready(overrides: Partial<Extract<E2eeState, { status: 'ready' }>> = {}): E2eeState {
  return {
    status: 'ready',
    client: fakeClient(false),
    crossSigning: 'ready',
    verification: { start: startVerification } as unknown as VerificationStore,
    setUpCrossSigning,
    ...overrides,
  }
}

installDialogPolyfill()

describe('encryption status', () => {
  it('says whether the other person is verified, and offers to verify their device', async () => {
    renderStatus(ready())
    const status = screen.getByTestId('encryption-status')
    await waitFor(() => {
      expect(status).toHaveTextContent('Encrypted · not verified')
    })

    await userEvent.click(status)
    const bob = await screen.findByLabelText(`Devices of ${BOB}`)
    await userEvent.click(within(bob).getByRole('button', { name: 'Verify' }))
    expect(startVerification).toHaveBeenCalledWith(BOB, 'BOBPHONE')
  })

  it('shows a verified contact as such', async () => {
    renderStatus(ready({ client: fakeClient(true) }))
    const status = screen.getByTestId('encryption-status')
    await waitFor(() => {
      expect(status).toHaveTextContent('Encrypted · verified')
    })
    expect(status).toHaveAttribute('data-state', 'verified')
  })

  it('asks for the password when the server wants it to set up cross-signing', async () => {
    renderStatus(ready({ crossSigning: 'needs-password' }))
    await userEvent.click(screen.getByTestId('encryption-status'))
    const form = await screen.findByRole('form', { name: 'Set up cross-signing' })
    await userEvent.type(within(form).getByLabelText('Password'), 'hunter2')
    await userEvent.click(within(form).getByRole('button', { name: 'Set up' }))
    expect(setUpCrossSigning).toHaveBeenCalledWith('hunter2')
  })

  it('says so when encryption is unavailable on this device', () => {
    renderStatus({ status: 'failed', error: 'Encryption is in use in another tab' })
    const status = screen.getByTestId('encryption-status')
    expect(status).toHaveAttribute('data-state', 'failed')
    expect(status).toHaveTextContent('Encryption unavailable')
  })
})
