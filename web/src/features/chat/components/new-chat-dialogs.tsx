import { useState, type SyntheticEvent } from 'react'
import { useNavigate } from 'react-router'

import { Alert, AlertDescription } from '@/components/ui/alert'
import { Button } from '@/components/ui/button'
import { Dialog } from '@/components/ui/dialog'
import { FormField } from '@/components/ui/form-field'
import { Spinner } from '@/components/ui/spinner'
import { useCreateRoom } from '@/features/chat/api/rooms'
import { chatPath } from '@/features/chat/paths'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { addressHint, parseUserAddress, parseUserAddresses } from '@/lib/ids'

interface DialogControl {
  open: boolean
  onClose: () => void
  /** The signed-in user, whose server the address hint names. */
  me: string
}

/** Start (or reopen) the direct conversation with one person. */
export function NewChatDialog({ open, onClose, me }: DialogControl) {
  const [address, setAddress] = useState('')
  const [fieldError, setFieldError] = useState<string>()
  const create = useCreateRoom()
  const navigate = useNavigate()

  const close = () => {
    setAddress('')
    setFieldError(undefined)
    create.reset()
    onClose()
  }

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const parsed = parseUserAddress(address)
    if (!parsed.ok) {
      setFieldError(parsed.error)
      return
    }
    setFieldError(undefined)
    create.mutate(
      { kind: 'direct', with: parsed.userId },
      {
        onSuccess: (room) => {
          close()
          void navigate(chatPath(room.room_id))
        },
      },
    )
  }

  return (
    <Dialog open={open} onClose={close} title="New chat" description="Talk to one person.">
      <form className="grid gap-4" aria-label="New chat" noValidate onSubmit={submit}>
        <FormField
          label="Address"
          name="address"
          placeholder="@name:server"
          autoComplete="off"
          description={addressHint(me)}
          value={address}
          error={fieldError}
          onChange={(e) => {
            setAddress(e.target.value)
          }}
        />
        {create.isError && (
          <Alert variant="destructive" role="alert">
            <AlertDescription>{describeApiFailure(create.error).detail}</AlertDescription>
          </Alert>
        )}
        <Button type="submit" aria-disabled={create.isPending}>
          {create.isPending && <Spinner />}
          Start chat
        </Button>
      </form>
    </Dialog>
  )
}

/** Create a group with a name, an optional topic and its first members. */
export function NewGroupDialog({ open, onClose, me }: DialogControl) {
  const [name, setName] = useState('')
  const [topic, setTopic] = useState('')
  const [members, setMembers] = useState('')
  const [errors, setErrors] = useState<{ name?: string; members?: string }>({})
  const create = useCreateRoom()
  const navigate = useNavigate()

  const close = () => {
    setName('')
    setTopic('')
    setMembers('')
    setErrors({})
    create.reset()
    onClose()
  }

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const { userIds: list, invalid } = parseUserAddresses(members)
    const next: typeof errors = {}
    if (name.trim() === '') next.name = 'Give the group a name.'
    if (invalid.length > 0) {
      next.members = `Not an address: ${invalid.join(', ')} (use @name:server).`
    }
    setErrors(next)
    if (next.name !== undefined || next.members !== undefined) return
    create.mutate(
      {
        kind: 'group',
        name: name.trim(),
        ...(topic.trim() === '' ? {} : { topic: topic.trim() }),
        members: list,
      },
      {
        onSuccess: (room) => {
          close()
          void navigate(chatPath(room.room_id))
        },
      },
    )
  }

  return (
    <Dialog open={open} onClose={close} title="New group" description="Talk to several people.">
      <form className="grid gap-4" aria-label="New group" noValidate onSubmit={submit}>
        <FormField
          label="Name"
          name="name"
          autoComplete="off"
          maxLength={128}
          value={name}
          error={errors.name}
          onChange={(e) => {
            setName(e.target.value)
          }}
        />
        <FormField
          label="Topic (optional)"
          name="topic"
          autoComplete="off"
          maxLength={1024}
          value={topic}
          onChange={(e) => {
            setTopic(e.target.value)
          }}
        />
        <FormField
          label="Members"
          name="members"
          autoComplete="off"
          placeholder="@ann:server, @bob:server"
          description={`Separated by commas or spaces. ${addressHint(me)}`}
          value={members}
          error={errors.members}
          onChange={(e) => {
            setMembers(e.target.value)
          }}
        />
        {create.isError && (
          <Alert variant="destructive" role="alert">
            <AlertDescription>{describeApiFailure(create.error).detail}</AlertDescription>
          </Alert>
        )}
        <Button type="submit" aria-disabled={create.isPending}>
          {create.isPending && <Spinner />}
          Create group
        </Button>
      </form>
    </Dialog>
  )
}
