import { useQueryClient } from '@tanstack/react-query'
import { ArrowLeft, LockKeyhole, LockKeyholeOpen, Send, Settings2 } from 'lucide-react'
import {
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type KeyboardEvent,
  type ReactNode,
} from 'react'
import { Link } from 'react-router'
import { toast } from 'sonner'

import { Button } from '@/components/ui/button'
import { Skeleton } from '@/components/ui/skeleton'
import { Spinner } from '@/components/ui/spinner'
import { paths } from '@/config/paths'
import {
  loadOlder,
  markRead,
  useRooms,
  useTimeline,
  type RoomEvent,
  type RoomSummary,
} from '@/features/chat/api/rooms'
import { EncryptionStatus } from '@/features/chat/components/encryption-status'
import { GroupPanel } from '@/features/chat/components/group-panel'
import { MessageTicks } from '@/features/chat/components/message-ticks'
import { ServerBadge, UserName } from '@/features/chat/components/user-name'
import { systemText } from '@/features/chat/model/event-text'
import type { MessageView } from '@/features/chat/model/decryption-store'
import { deviceNoticeText, type DeviceNotice } from '@/features/chat/model/device-notices'
import { isMessageEvent } from '@/features/chat/model/message-content'
import { otherMember, roomName } from '@/features/chat/model/names'
import { applyOwnRead } from '@/features/chat/model/room-cache'
import { canRetry, type OutgoingMessage } from '@/features/chat/model/outbox'
import { tickFor } from '@/features/chat/model/ticks'
import { TypingNotifier } from '@/features/chat/model/typing-notifier'
import { useChatRealtime, type ChatRealtime } from '@/features/chat/realtime-context'
import { useAuthSession } from '@/lib/auth/use-auth'
import { describeApiFailure } from '@/lib/describe-api-failure'
import { formatTimeAgo } from '@/lib/format'
import { remoteServer, serverOf, userLabel } from '@/lib/ids'
import { cn } from '@/lib/utils'

const NO_OUTGOING: readonly OutgoingMessage[] = []
const NOBODY: readonly string[] = []
const subscribeNothing = () => () => undefined

/** One conversation: its history, live updates, and the composer. */
export function ChatView({ roomId, me }: { roomId: string; me: string }) {
  const rooms = useRooms()
  const room = rooms.data?.find((r) => r.room_id === roomId)

  if (rooms.isPending) {
    return (
      <div className="grid gap-3 p-4" role="status" aria-label="Loading conversation">
        <Skeleton className="h-10" />
        <Skeleton className="h-24" />
      </div>
    )
  }
  if (!room) {
    return (
      <div className="grid place-items-center gap-3 p-8 text-center" role="alert">
        <p className="font-medium">Conversation not found</p>
        <p className="text-sm text-muted-foreground">
          It does not exist, or you are not a member of it.
        </p>
        <Button asChild variant="outline" size="sm">
          <Link to={paths.chats}>Back to chats</Link>
        </Button>
      </div>
    )
  }
  return <Conversation key={roomId} room={room} me={me} />
}

function Conversation({ room, me }: { room: RoomSummary; me: string }) {
  const roomId = room.room_id
  const name = roomName(room, me)
  const other = room.kind === 'direct' ? otherMember(room, me) : undefined
  const host = remoteServer(roomId, me)
  const realtime = useChatRealtime()
  const timeline = useTimeline(roomId)
  const events = useMemo(() => timeline.data?.events ?? [], [timeline.data])
  const outgoing = useSyncExternalStore(
    realtime?.outbox.subscribe ?? subscribeNothing,
    realtime?.outbox.getSnapshot ?? (() => NO_OUTGOING),
  )
  const typing = useSyncExternalStore(realtime?.typing.subscribe ?? subscribeNothing, () =>
    realtime ? realtime.typing.typingIn(roomId) : NOBODY,
  )

  useReadMarker(room, events, me, realtime)
  const noticesVersion = useSyncExternalStore(
    realtime?.notices.subscribe ?? subscribeNothing,
    realtime?.notices.getVersion ?? (() => 0),
  )
  const notices = useMemo(
    () => realtime?.notices.noticesIn(roomId) ?? [],
    // noticesVersion: the store changed
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [realtime, roomId, noticesVersion],
  )

  // This device's sends still waiting for the room's server, as of the last load of the newest
  // page (also after a reload). After the render that shows that page's events: a message it no
  // longer lists leaves the outbox only once its event (if it went through) is on screen.
  const pendingSends = timeline.data?.pending
  useEffect(() => {
    if (realtime && pendingSends) realtime.outbox.restorePending(roomId, pendingSends)
  }, [realtime, roomId, pendingSends])

  const eventIds = useMemo(() => new Set(events.map((e) => e.event_id)), [events])
  const pending = outgoing.filter(
    (m) => m.roomId === roomId && (m.eventId === undefined || !eventIds.has(m.eventId)),
  )
  const typingOthers = typing.filter((u) => u !== me)
  const [panelOpen, setPanelOpen] = useState(false)

  return (
    <section aria-label={`Conversation: ${name}`} className="flex min-h-0 flex-1 flex-col">
      <header className="flex items-center gap-2 border-b p-3">
        <Button asChild variant="ghost" size="icon" className="md:hidden">
          <Link to={paths.chats} aria-label="Back to chats">
            <ArrowLeft />
          </Link>
        </Button>
        <div className="grid min-w-0 flex-1">
          <h2 className="truncate font-semibold" data-testid="chat-title">
            {other ? <UserName userId={other.user_id} me={me} /> : name}
          </h2>
          <p className="truncate text-xs text-muted-foreground">
            {room.kind === 'group'
              ? (room.topic ?? `${String(room.members.length)} members`)
              : presenceText(other)}
            {host !== undefined && (
              <span data-testid="room-host">
                {' · Hosted by '}
                <ServerBadge server={host} />
              </span>
            )}
          </p>
        </div>
        <EncryptionStatus room={room} me={me} />
        {room.kind === 'group' && (
          <Button
            variant="ghost"
            size="sm"
            onClick={() => {
              setPanelOpen(true)
            }}
          >
            <Settings2 />
            <span className="sr-only sm:not-sr-only">Group details</span>
          </Button>
        )}
      </header>
      {room.kind === 'group' && (
        <GroupPanel
          room={room}
          me={me}
          open={panelOpen}
          onClose={() => {
            setPanelOpen(false)
          }}
        />
      )}

      <MessageList
        roomId={roomId}
        room={room}
        me={me}
        events={events}
        notices={notices}
        pending={pending}
        loading={timeline.isPending}
        hasOlder={timeline.data?.nextBefore != null}
        realtime={realtime}
      />

      <p className="min-h-6 px-4 text-xs text-muted-foreground" aria-live="polite">
        {typingOthers.length === 1
          ? `${userLabel(typingOthers[0] ?? '', me, { short: true })} is typing…`
          : typingOthers.length > 1
            ? `${typingOthers.map((u) => userLabel(u, me, { short: true })).join(', ')} are typing…`
            : ''}
      </p>
      <Composer roomId={roomId} realtime={realtime} />
    </section>
  )
}

function presenceText(member: RoomSummary['members'][number] | undefined): string {
  if (!member) return 'has left'
  if (member.online) return 'online'
  if (member.last_seen_at == null) return 'offline'
  return `last seen ${formatTimeAgo(new Date(member.last_seen_at).toISOString())}`
}

/** Tell the server what the user has read while the conversation is on screen. */
function useReadMarker(
  room: RoomSummary,
  events: readonly RoomEvent[],
  me: string,
  realtime: ChatRealtime | null,
) {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible')
  const sentRef = useRef(0)
  const roomId = room.room_id
  const lastSeq = events.at(-1)?.seq ?? room.last_event?.seq ?? 0

  useEffect(() => {
    const onChange = () => {
      setVisible(document.visibilityState === 'visible')
    }
    document.addEventListener('visibilitychange', onChange)
    return () => {
      document.removeEventListener('visibilitychange', onChange)
    }
  }, [])

  useEffect(() => {
    if (!realtime) return
    realtime.setActiveRoom(visible ? roomId : undefined)
    return () => {
      realtime.setActiveRoom(undefined)
    }
  }, [realtime, roomId, visible])

  useEffect(() => {
    if (!visible || lastSeq === 0) return
    if (lastSeq <= room.read_seq || lastSeq <= sentRef.current) return
    sentRef.current = lastSeq
    applyOwnRead(queryClient, roomId, lastSeq)
    const viaSocket = realtime?.client.send({ type: 'read', room_id: roomId, seq: lastSeq })
    if (!viaSocket) {
      markRead(session, roomId, lastSeq).catch(() => {
        sentRef.current = 0 // try again with the next change
      })
    }
  }, [visible, lastSeq, room.read_seq, roomId, realtime, session, queryClient, me])
}

type Row =
  | { kind: 'system'; key: string; text: string; notice?: boolean }
  | {
      kind: 'group'
      key: string
      sender: string
      items: (
        | { kind: 'event'; event: RoomEvent; view: MessageView }
        | { kind: 'outgoing'; message: OutgoingMessage }
      )[]
    }

function buildRows(
  events: readonly RoomEvent[],
  notices: readonly DeviceNotice[],
  pending: readonly OutgoingMessage[],
  me: string,
  viewOf: (event: RoomEvent) => MessageView,
) {
  const rows: Row[] = []
  const nameOf = (userId: string) => userLabel(userId, me)
  // Notices go between the events by time (they are this device's, not the server's).
  let next = 0
  const noticesUntil = (time: number) => {
    for (; next < notices.length; next += 1) {
      const notice = notices[next]
      if (!notice || notice.at > time) return
      rows.push({
        kind: 'system',
        key: `notice:${notice.userId}:${notice.deviceId}:${String(notice.at)}`,
        text: deviceNoticeText(notice, nameOf),
        notice: true,
      })
    }
  }
  const roles = new Map<string, string>()
  const lastGroup = (sender: string) => {
    const last = rows.at(-1)
    return last?.kind === 'group' && last.sender === sender ? last : undefined
  }
  for (const event of events) {
    noticesUntil(event.origin_server_ts)
    if (isMessageEvent(event)) {
      const view = viewOf(event)
      const group = lastGroup(event.sender)
      if (group) group.items.push({ kind: 'event', event, view })
      else
        rows.push({
          kind: 'group',
          key: event.event_id,
          sender: event.sender,
          items: [{ kind: 'event', event, view }],
        })
    } else {
      const text = systemText(event, roles, nameOf)
      if (text !== undefined) rows.push({ kind: 'system', key: event.event_id, text })
    }
  }
  noticesUntil(Infinity)
  for (const message of pending) {
    const group = lastGroup(me)
    if (group) group.items.push({ kind: 'outgoing', message })
    else
      rows.push({
        kind: 'group',
        key: message.txnId,
        sender: me,
        items: [{ kind: 'outgoing', message }],
      })
  }
  return rows
}

function MessageList({
  roomId,
  room,
  me,
  events,
  notices,
  pending,
  loading,
  hasOlder,
  realtime,
}: {
  roomId: string
  room: RoomSummary
  me: string
  events: readonly RoomEvent[]
  notices: readonly DeviceNotice[]
  pending: readonly OutgoingMessage[]
  loading: boolean
  hasOlder: boolean
  realtime: ChatRealtime | null
}) {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  const scrollRef = useRef<HTMLDivElement>(null)
  const [loadingOlder, setLoadingOlder] = useState(false)
  const anchorRef = useRef<{ height: number; top: number } | null>(null)
  const stickRef = useRef(true)
  const decryption = realtime?.decryption
  const decryptionVersion = useSyncExternalStore(
    decryption?.subscribe ?? subscribeNothing,
    decryption?.getVersion ?? (() => 0),
  )
  useEffect(() => {
    decryption?.request(events)
  }, [decryption, events])
  const rows = useMemo(
    () =>
      buildRows(events, notices, pending, me, (event) =>
        decryption ? decryption.view(event) : { kind: 'decrypting' },
      ),
    // decryptionVersion: the results changed
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [events, notices, pending, me, decryption, decryptionVersion],
  )

  const older = async () => {
    const el = scrollRef.current
    if (loadingOlder || !hasOlder || !el) return
    anchorRef.current = { height: el.scrollHeight, top: el.scrollTop }
    setLoadingOlder(true)
    try {
      await loadOlder(session, queryClient, roomId)
    } catch (error) {
      anchorRef.current = null
      toast.error('Could not load older messages', {
        description: describeApiFailure(error).detail,
      })
    } finally {
      setLoadingOlder(false)
    }
  }

  // Keep the view where it was when older messages are put above, and follow new messages
  // at the bottom while the user is there.
  useLayoutEffect(() => {
    const el = scrollRef.current
    if (!el) return
    const anchor = anchorRef.current
    if (anchor) {
      anchorRef.current = null
      el.scrollTop = anchor.top + (el.scrollHeight - anchor.height)
    } else if (stickRef.current) {
      el.scrollTop = el.scrollHeight
    }
  }, [rows])

  return (
    <div
      ref={scrollRef}
      className="min-h-0 flex-1 overflow-y-auto px-3 py-4"
      data-testid="message-list"
      onScroll={(event) => {
        const el = event.currentTarget
        stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80
        if (el.scrollTop < 40 && hasOlder && !loadingOlder) void older()
      }}
    >
      {loading ? (
        <div className="grid gap-3" role="status" aria-label="Loading messages">
          <Skeleton className="h-10 w-2/3" />
          <Skeleton className="ml-auto h-10 w-1/2" />
        </div>
      ) : (
        <>
          {hasOlder && (
            <div className="mb-3 flex justify-center">
              <Button
                variant="ghost"
                size="sm"
                aria-disabled={loadingOlder}
                onClick={() => {
                  void older()
                }}
              >
                {loadingOlder && <Spinner />}
                Load older messages
              </Button>
            </div>
          )}
          <ol className="grid gap-3" aria-label="Messages">
            {rows.map((row) =>
              row.kind === 'system' ? (
                <li
                  key={row.key}
                  className={cn(
                    'text-center text-xs text-muted-foreground',
                    row.notice &&
                      'mx-auto max-w-md rounded-md border border-amber-500/50 bg-amber-500/10 px-3 py-1.5 text-foreground',
                  )}
                  data-testid={row.notice ? 'device-notice' : 'system-line'}
                >
                  {row.text}
                </li>
              ) : (
                <MessageGroup key={row.key} row={row} room={room} me={me} realtime={realtime} />
              ),
            )}
          </ol>
        </>
      )}
    </div>
  )
}

function MessageGroup({
  row,
  room,
  me,
  realtime,
}: {
  row: Extract<Row, { kind: 'group' }>
  room: RoomSummary
  me: string
  realtime: ChatRealtime | null
}) {
  const mine = row.sender === me
  return (
    <li className={cn('grid w-full gap-1', mine ? 'justify-items-end' : 'justify-items-start')}>
      {!mine && (
        <UserName
          userId={row.sender}
          me={me}
          className="px-1 text-xs font-medium text-muted-foreground"
        />
      )}
      <ul className={cn('grid w-full gap-1', mine ? 'justify-items-end' : 'justify-items-start')}>
        {row.items.map((item) =>
          item.kind === 'event' ? (
            <Bubble
              key={item.event.event_id}
              mine={mine}
              view={item.view}
              time={item.event.origin_server_ts}
              status={
                mine ? <MessageTicks tick={tickFor(item.event.seq, room.members, me)} /> : null
              }
            />
          ) : (
            <Bubble
              key={item.message.txnId}
              mine
              view={
                item.message.restored === 'decrypting'
                  ? { kind: 'decrypting' }
                  : { kind: 'text', text: item.message.text, encrypted: true, verifiedDevice: true }
              }
              time={item.message.createdAt}
              failed={item.message.status === 'failed'}
              status={
                item.message.status === 'failed' ? (
                  canRetry(item.message) ? (
                    <span className="inline-flex items-center gap-1 text-destructive">
                      Not sent —
                      <button
                        type="button"
                        className="font-medium underline underline-offset-2"
                        onClick={() => realtime?.outbox.retry(item.message.txnId)}
                        title={item.message.error}
                      >
                        Retry
                      </button>
                    </span>
                  ) : (
                    // Restored after a reload without its text: it cannot be sent again.
                    <span className="text-destructive" title={item.message.error}>
                      Not sent
                    </span>
                  )
                ) : (
                  <MessageTicks
                    tick={
                      item.message.seq !== undefined
                        ? tickFor(item.message.seq, room.members, me)
                        : item.message.status === 'pending'
                          ? 'pending'
                          : 'sending'
                    }
                    waitingFor={serverOf(room.room_id)}
                  />
                )
              }
            />
          ),
        )}
      </ul>
    </li>
  )
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

function Bubble({
  mine,
  view,
  time,
  status,
  failed = false,
}: {
  mine: boolean
  view: MessageView
  time: number
  status: ReactNode
  failed?: boolean
}) {
  const problem = view.kind !== 'text'
  return (
    <li
      data-testid="message"
      data-mine={mine}
      data-decryption={view.kind}
      className={cn(
        'w-fit max-w-[min(80%,36rem)] rounded-2xl px-3 py-1.5 shadow-xs',
        mine && !problem ? 'bg-primary text-primary-foreground' : 'bg-muted',
        failed && 'bg-destructive/10 text-foreground ring-1 ring-destructive/40',
        problem && 'border border-dashed border-muted-foreground/40',
      )}
    >
      {view.kind === 'text' ? (
        <p className="text-sm break-words whitespace-pre-wrap" data-testid="message-body">
          {view.text}
        </p>
      ) : view.kind === 'decrypting' ? (
        <p className="flex items-center gap-1.5 text-sm text-muted-foreground italic">
          <Spinner className="size-3" />
          Decrypting…
        </p>
      ) : (
        <p className="grid text-sm" data-testid="message-undecryptable" role="note">
          <span className="flex items-center gap-1.5 font-medium">
            <LockKeyhole className="size-3.5" aria-hidden />
            Unable to decrypt this message
          </span>
          <span className="text-xs text-muted-foreground" data-testid="undecryptable-reason">
            {view.reason}
            {view.waiting && ' It will be shown when the key arrives.'}
          </span>
        </p>
      )}
      <p
        className={cn(
          'flex items-center justify-end gap-1 text-[0.7rem]',
          mine && !failed && !problem ? 'text-primary-foreground/80' : 'text-muted-foreground',
        )}
      >
        {view.kind === 'text' && !view.encrypted && (
          <span className="inline-flex items-center gap-0.5" title="Sent before encryption">
            <LockKeyholeOpen className="size-3" aria-hidden />
            Not encrypted
          </span>
        )}
        <time dateTime={new Date(time).toISOString()}>{timeFormat.format(time)}</time>
        {status}
      </p>
    </li>
  )
}

function Composer({ roomId, realtime }: { roomId: string; realtime: ChatRealtime | null }) {
  const [draft, setDraft] = useState('')
  const notifierRef = useRef<TypingNotifier | null>(null)

  useEffect(() => {
    const notifier = new TypingNotifier((typing) => {
      realtime?.client.send({ type: 'typing', room_id: roomId, typing })
    })
    notifierRef.current = notifier
    return () => {
      notifier.stop()
      notifierRef.current = null
    }
  }, [roomId, realtime])

  const send = () => {
    const text = draft.trim()
    if (text === '' || !realtime) return
    notifierRef.current?.stop()
    realtime.outbox.send(roomId, text)
    setDraft('')
  }

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault()
      send()
    }
  }

  return (
    <form
      className="flex items-end gap-2 border-t p-3"
      aria-label="Send a message"
      onSubmit={(event) => {
        event.preventDefault()
        send()
      }}
    >
      <label htmlFor={`composer-${roomId}`} className="sr-only">
        Message
      </label>
      <textarea
        id={`composer-${roomId}`}
        rows={1}
        value={draft}
        placeholder="Write a message…"
        className="max-h-40 min-h-10 flex-1 resize-none rounded-md border border-input bg-card px-3 py-2 text-base shadow-xs outline-none focus-visible:border-ring focus-visible:ring-[3px] focus-visible:ring-ring/50 sm:text-sm"
        onChange={(event) => {
          setDraft(event.target.value)
          notifierRef.current?.input(event.target.value)
        }}
        onBlur={() => notifierRef.current?.stop()}
        onKeyDown={onKeyDown}
      />
      <Button type="submit" size="icon" aria-label="Send" disabled={draft.trim() === ''}>
        <Send />
      </Button>
    </form>
  )
}
