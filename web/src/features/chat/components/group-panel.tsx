import { useState, type SyntheticEvent } from 'react'
import { useNavigate } from 'react-router'

import { Button } from '@/components/ui/button'
import { Dialog } from '@/components/ui/dialog'
import { FormField } from '@/components/ui/form-field'
import { paths } from '@/config/paths'
import { canManage, permissions, useRoomAction } from '@/features/chat/api/manage-room'
import type { Member, RoomSummary } from '@/features/chat/api/rooms'
import { ServerBadge, UserName } from '@/features/chat/components/user-name'
import { addressHint, parseUserAddress, remoteServer, userLabel } from '@/lib/ids'
import { cn } from '@/lib/utils'

/** A group's members and settings, with the controls the caller's role allows. */
export function GroupPanel({
  room,
  me,
  open,
  onClose,
}: {
  room: RoomSummary
  me: string
  open: boolean
  onClose: () => void
}) {
  const action = useRoomAction(room.room_id)
  const navigate = useNavigate()
  const manager = canManage(room.my_role)
  const host = remoteServer(room.room_id, me)

  return (
    <Dialog open={open} onClose={onClose} title="Group details" className="max-w-lg">
      <div className="grid max-h-[70dvh] gap-5 overflow-y-auto">
        {host !== undefined && (
          <p className="text-sm text-muted-foreground" data-testid="room-host">
            Hosted by <ServerBadge server={host} className="text-xs" />: its members and messages
            are kept on that organisation’s server.
          </p>
        )}
        {manager && <SettingsForm room={room} action={action} />}

        <section aria-labelledby="members-heading" className="grid gap-2">
          <h3 id="members-heading" className="text-sm font-semibold">
            Members ({room.members.length})
          </h3>
          <ul className="grid gap-1" data-testid="member-list">
            {room.members.map((member) => (
              <MemberRow
                key={member.user_id}
                member={member}
                me={me}
                myRole={room.my_role}
                action={action}
              />
            ))}
          </ul>
        </section>

        {manager && <AddMemberForm action={action} me={me} />}

        <Button
          variant="destructive"
          aria-disabled={action.isPending}
          onClick={() => {
            if (action.isPending) return
            action.mutate(
              { type: 'remove', userId: me },
              {
                onSuccess: () => {
                  onClose()
                  void navigate(paths.chats)
                },
              },
            )
          }}
        >
          Leave group
        </Button>
      </div>
    </Dialog>
  )
}

type Action = ReturnType<typeof useRoomAction>

function SettingsForm({ room, action }: { room: RoomSummary; action: Action }) {
  const [name, setName] = useState(room.name ?? '')
  const [topic, setTopic] = useState(room.topic ?? '')
  const [error, setError] = useState<string>()
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    if (name.trim() === '') {
      setError('The group needs a name.')
      return
    }
    setError(undefined)
    action.mutate({
      type: 'update',
      ...(name.trim() === (room.name ?? '') ? {} : { name: name.trim() }),
      ...(topic.trim() === (room.topic ?? '') ? {} : { topic: topic.trim() }),
    })
  }
  return (
    <form className="grid gap-3" aria-label="Group settings" noValidate onSubmit={submit}>
      <FormField
        label="Name"
        value={name}
        maxLength={128}
        error={error}
        onChange={(e) => {
          setName(e.target.value)
        }}
      />
      <FormField
        label="Topic"
        value={topic}
        maxLength={1024}
        onChange={(e) => {
          setTopic(e.target.value)
        }}
      />
      <Button type="submit" variant="outline" aria-disabled={action.isPending}>
        Save
      </Button>
    </form>
  )
}

function AddMemberForm({ action, me }: { action: Action; me: string }) {
  const [address, setAddress] = useState('')
  const [error, setError] = useState<string>()
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const parsed = parseUserAddress(address)
    if (!parsed.ok) {
      setError(parsed.error)
      return
    }
    setError(undefined)
    action.mutate(
      { type: 'add', userId: parsed.userId },
      {
        onSuccess: () => {
          setAddress('')
        },
      },
    )
  }
  return (
    <form className="grid gap-3" aria-label="Add a member" noValidate onSubmit={submit}>
      <FormField
        label="Add a member"
        placeholder="@name:server"
        autoComplete="off"
        description={addressHint(me)}
        value={address}
        error={error}
        onChange={(e) => {
          setAddress(e.target.value)
        }}
      />
      <Button type="submit" variant="outline" aria-disabled={action.isPending}>
        Add
      </Button>
    </form>
  )
}

function MemberRow({
  member,
  me,
  myRole,
  action,
}: {
  member: Member
  me: string
  myRole: Member['role']
  action: Action
}) {
  const can = permissions(myRole, member.role, member.user_id === me)
  const run = (change: Parameters<Action['mutate']>[0]) => {
    if (!action.isPending) action.mutate(change)
  }
  return (
    <li
      className="flex flex-wrap items-center gap-2 rounded-md border px-3 py-2"
      data-testid="member"
    >
      <span
        aria-hidden="true"
        className={cn(
          'size-2.5 rounded-full',
          member.online ? 'bg-success' : 'bg-muted-foreground/50',
        )}
      />
      <span className="min-w-0 flex-1 truncate font-mono text-sm">
        <UserName userId={member.user_id} me={me} />
        {member.user_id === me && ' (you)'}
      </span>
      <span className="text-xs text-muted-foreground">{member.role}</span>
      {can.makeAdmin && (
        <Button
          size="sm"
          variant="ghost"
          onClick={() => {
            run({ type: 'role', userId: member.user_id, role: 'admin' })
          }}
        >
          Make admin
        </Button>
      )}
      {can.removeAdmin && (
        <Button
          size="sm"
          variant="ghost"
          onClick={() => {
            run({ type: 'role', userId: member.user_id, role: 'member' })
          }}
        >
          Remove admin
        </Button>
      )}
      {can.makeOwner && (
        <Button
          size="sm"
          variant="ghost"
          onClick={() => {
            run({ type: 'role', userId: member.user_id, role: 'owner' })
          }}
        >
          Make owner
        </Button>
      )}
      {can.remove && (
        <Button
          size="sm"
          variant="ghost"
          className="text-destructive"
          aria-label={`Remove ${userLabel(member.user_id, me)}`}
          onClick={() => {
            run({ type: 'remove', userId: member.user_id })
          }}
        >
          Remove
        </Button>
      )}
    </li>
  )
}
