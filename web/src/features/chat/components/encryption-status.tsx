import { LockKeyhole, ShieldAlert, ShieldCheck, ShieldQuestion } from 'lucide-react'
import { useState, type SyntheticEvent } from 'react'
import { toast } from 'sonner'

import { Badge } from '@/components/ui/badge'
import { Button } from '@/components/ui/button'
import { Dialog } from '@/components/ui/dialog'
import { Label } from '@/components/ui/label'
import { PasswordInput } from '@/components/ui/password-input'
import { Spinner } from '@/components/ui/spinner'
import type { RoomSummary } from '@/features/chat/api/rooms'
import { useUserTrust, type UserTrust } from '@/features/chat/hooks/use-trust'
import { UserName } from '@/features/chat/components/user-name'
import { useE2ee } from '@/features/chat/realtime-context'
import type { DeviceInfo } from '@/lib/crypto/e2ee-client'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { userLabel } from '@/lib/ids'

/** The conversation's encryption state, in its header; opens the details. */
export function EncryptionStatus({ room, me }: { room: RoomSummary; me: string }) {
  const e2ee = useE2ee()
  const others = room.members.map((m) => m.user_id).filter((u) => u !== me)
  const trust = useUserTrust(others)
  const [open, setOpen] = useState(false)

  let label: string
  let icon = <LockKeyhole />
  let state: string
  if (e2ee.status === 'opening') {
    label = 'Setting up encryption…'
    icon = <Spinner />
    state = 'opening'
  } else if (e2ee.status === 'failed') {
    label = 'Encryption unavailable'
    icon = <ShieldAlert />
    state = 'failed'
  } else if (!trust) {
    label = 'Encrypted'
    state = 'loading'
  } else {
    const verified = others.filter((u) => trust.get(u)?.verified).length
    if (others.length > 0 && verified === others.length) {
      label = room.kind === 'direct' ? 'Encrypted · verified' : 'Encrypted · all verified'
      icon = <ShieldCheck />
      state = 'verified'
    } else {
      label =
        room.kind === 'direct'
          ? 'Encrypted · not verified'
          : `Encrypted · ${String(verified)} of ${String(others.length)} verified`
      state = 'encrypted'
    }
  }

  return (
    <>
      <Button
        variant="ghost"
        size="sm"
        data-testid="encryption-status"
        data-state={state}
        title={e2ee.status === 'failed' ? e2ee.error : 'End-to-end encryption'}
        className={state === 'failed' ? 'text-destructive' : undefined}
        onClick={() => {
          setOpen(true)
        }}
      >
        {icon}
        <span className="sr-only sm:not-sr-only">{label}</span>
      </Button>
      <Dialog
        open={open}
        onClose={() => {
          setOpen(false)
        }}
        title="Encryption"
        description="Messages here are end-to-end encrypted: only the devices listed below can read them. Verify people to be sure their devices are theirs."
        className="max-w-lg"
      >
        <SecurityDetails me={me} userIds={[me, ...others]} />
      </Dialog>
    </>
  )
}

/** Each user's identity and devices, with what is verified. */
export function SecurityDetails({ me, userIds }: { me: string; userIds: readonly string[] }) {
  const e2ee = useE2ee()
  const trust = useUserTrust(userIds)
  if (e2ee.status === 'failed') {
    return (
      <p className="text-sm text-destructive" role="alert">
        End-to-end encryption is not available on this device: {e2ee.error}
      </p>
    )
  }
  if (!trust) {
    return (
      <p className="flex items-center gap-2 text-sm text-muted-foreground" role="status">
        <Spinner /> Loading keys…
      </p>
    )
  }
  return (
    <div className="grid max-h-[60vh] gap-4 overflow-y-auto">
      <CrossSigning />
      <ul className="grid gap-4" aria-label="People and devices">
        {userIds.map((userId) => {
          const user = trust.get(userId)
          return user ? <UserKeys key={userId} user={user} me={me} /> : null
        })}
      </ul>
    </div>
  )
}

/** This user's cross-signing on this device, and setting it up when the server wants a password. */
function CrossSigning() {
  const e2ee = useE2ee()
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  if (e2ee.status !== 'ready') return null
  switch (e2ee.crossSigning) {
    case 'ready':
      return (
        <p className="text-sm text-muted-foreground" data-testid="cross-signing" data-state="ready">
          Cross-signing is set up: your verified devices vouch for each other, and people you verify
          stay verified on all of them.
        </p>
      )
    case 'checking':
      return null
    case 'needs-verification':
      return (
        <p className="text-sm" data-testid="cross-signing" data-state="needs-verification">
          Your account’s cross-signing was set up on another device. Verify this device with it
          (“Verify” next to it below) so that your devices vouch for each other.
        </p>
      )
    case 'needs-password': {
      const submit = (event: SyntheticEvent) => {
        event.preventDefault()
        setBusy(true)
        e2ee
          .setUpCrossSigning(password)
          .then(() => {
            setPassword('')
          })
          .catch((error: unknown) => {
            toast.error('Could not set up cross-signing', {
              description: describeApiFailure(error).detail,
            })
          })
          .finally(() => {
            setBusy(false)
          })
      }
      return (
        <form
          className="grid gap-2 rounded-md border p-3"
          aria-label="Set up cross-signing"
          onSubmit={submit}
          data-testid="cross-signing"
          data-state="needs-password"
        >
          <p className="text-sm">
            Set up cross-signing so that your devices can vouch for each other and for the people
            you verify. Confirm with your password.
          </p>
          <Label htmlFor="cross-signing-password">Password</Label>
          <PasswordInput
            id="cross-signing-password"
            autoComplete="current-password"
            value={password}
            disabled={busy}
            onChange={(event) => {
              setPassword(event.target.value)
            }}
          />
          <Button type="submit" size="sm" className="justify-self-end" disabled={busy || !password}>
            {busy && <Spinner />}
            Set up
          </Button>
        </form>
      )
    }
  }
}

function UserKeys({ user, me }: { user: UserTrust; me: string }) {
  const mine = user.userId === me
  return (
    <li className="grid gap-2" data-testid="user-keys" data-user={user.userId}>
      <div className="flex flex-wrap items-center gap-2">
        <span className="font-medium">
          <UserName userId={user.userId} me={me} />
          {mine && ' (you)'}
        </span>
        <TrustBadge verified={user.verified} hasIdentity={user.hasIdentity} mine={mine} />
      </div>
      {user.devices.length === 0 ? (
        <p className="text-sm text-muted-foreground">No devices with encryption keys.</p>
      ) : (
        <ul className="grid gap-1.5" aria-label={`Devices of ${userLabel(user.userId, me)}`}>
          {user.devices.map((device) => (
            <DeviceRow key={device.deviceId} device={device} />
          ))}
        </ul>
      )}
    </li>
  )
}

export function TrustBadge({
  verified,
  hasIdentity,
  mine,
}: {
  verified: boolean
  hasIdentity: boolean
  mine: boolean
}) {
  if (verified) {
    return (
      <Badge variant="success" data-testid="user-verified">
        <ShieldCheck /> Verified
      </Badge>
    )
  }
  return (
    <Badge variant="outline" data-testid="user-unverified">
      <ShieldQuestion />
      {hasIdentity ? 'Not verified' : mine ? 'Cross-signing not set up' : 'No cross-signing keys'}
    </Badge>
  )
}

/** An ed25519 key in groups of four, as people compare them. */
function groups(key: string | undefined): string {
  return key?.match(/.{1,4}/g)?.join(' ') ?? 'no key'
}

function DeviceRow({ device }: { device: DeviceInfo }) {
  return (
    <li
      className="flex items-center justify-between gap-2 rounded-md border px-3 py-2"
      data-testid="device"
      data-device={device.deviceId}
      data-verified={device.verified}
    >
      <span className="grid min-w-0">
        <span className="truncate text-sm font-medium">
          {device.displayName ?? device.deviceId}
          {device.isOwnDevice && ' (this device)'}
        </span>
        <span className="truncate font-mono text-xs text-muted-foreground" title={device.ed25519}>
          {device.deviceId} · {groups(device.ed25519)}
        </span>
      </span>
      {device.verified ? (
        <Badge variant="success">
          <ShieldCheck /> Verified
        </Badge>
      ) : device.isOwnDevice ? (
        <Badge variant="outline">
          <ShieldQuestion /> Not verified
        </Badge>
      ) : (
        <VerifyButton device={device} />
      )}
    </li>
  )
}

function VerifyButton({ device }: { device: DeviceInfo }) {
  const e2ee = useE2ee()
  const [busy, setBusy] = useState(false)
  if (e2ee.status !== 'ready') return null
  return (
    <Button
      size="sm"
      variant="outline"
      disabled={busy}
      onClick={() => {
        setBusy(true)
        e2ee.verification
          .start(device.userId, device.deviceId)
          .catch((error: unknown) => {
            toast.error('Could not start the verification', {
              description: describeApiFailure(error).detail,
            })
          })
          .finally(() => {
            setBusy(false)
          })
      }}
    >
      {busy ? <Spinner /> : <ShieldQuestion />}
      Verify
    </Button>
  )
}
