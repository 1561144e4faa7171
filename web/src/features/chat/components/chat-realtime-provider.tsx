import { useQueryClient } from '@tanstack/react-query'
import { useEffect, useState, type ReactNode } from 'react'

import { roomKeys, sendEvent } from '@/features/chat/api/rooms'
import { MESSAGE_EVENT_TYPE, encodeMessage } from '@/features/chat/model/message-content'
import { OutboxStore } from '@/features/chat/model/outbox-store'
import { applyEvent, applyPresence, applyReceipt } from '@/features/chat/model/room-cache'
import { TypingStore } from '@/features/chat/model/typing-store'
import { ChatRealtimeContext, type ChatRealtime } from '@/features/chat/realtime-context'
import { useAuthSession, useAuthState } from '@/lib/auth/use-auth'
import { RealtimeClient } from '@/lib/realtime/realtime-client'

/** How long to gather `delivered` receipts before sending them (one per room). */
const DELIVERED_FLUSH_MS = 300

/**
 * The signed-in user's realtime connection: one WebSocket for the session, whose frames update
 * the room list and timelines in the query cache. Mount once, inside the auth provider.
 */
export function ChatRealtimeProvider({ children }: { children: ReactNode }) {
  const session = useAuthSession()
  const state = useAuthState()
  const queryClient = useQueryClient()
  const userId = state.status === 'signed-in' ? state.user.userId : undefined
  const [realtime, setRealtime] = useState<ChatRealtime | null>(null)

  useEffect(() => {
    if (userId === undefined) return
    const me = userId
    let activeRoom: string | undefined
    const typing = new TypingStore()
    const delivered = new Map<string, number>()
    let flushTimer: ReturnType<typeof setTimeout> | undefined
    let caughtUp = false

    const flushDelivered = () => {
      flushTimer = undefined
      for (const [roomId, seq] of delivered) {
        if (client.send({ type: 'delivered', room_id: roomId, seq })) delivered.delete(roomId)
      }
    }
    const scheduleFlush = () => {
      flushTimer ??= setTimeout(flushDelivered, DELIVERED_FLUSH_MS)
    }

    const client: RealtimeClient = new RealtimeClient({
      getToken: async (attempt) => {
        // Connections keep failing: perhaps the token expired while the device slept.
        if (attempt >= 2) await session.refresh().catch(() => undefined)
        return session.accessToken()
      },
      onSessionEnded: () => {
        // The server says the session is over; a refresh confirms it (and ends it here, which
        // takes the user to sign in), or gets a new token to connect with.
        session
          .refresh()
          .catch(() => session.accessToken())
          .then((token) => {
            if (token !== undefined) client.start()
          })
          .catch(() => undefined)
      },
      onFrame: (frame) => {
        switch (frame.type) {
          case 'event': {
            const event = frame.event
            applyEvent(queryClient, event, me, activeRoom)
            if (event.sender !== me) {
              typing.set(event.room_id, event.sender, false)
              delivered.set(event.room_id, Math.max(delivered.get(event.room_id) ?? 0, event.seq))
              scheduleFlush()
            } else {
              outbox.dispatch({ type: 'echoed', eventIds: new Set([event.event_id]) })
            }
            break
          }
          case 'live':
            // The first connection starts from now, not from what the screens loaded: whatever
            // happened in between is fetched once. Later ones resume exactly (`since`).
            if (!caughtUp) {
              caughtUp = true
              void queryClient.invalidateQueries({ queryKey: roomKeys.all })
            }
            scheduleFlush()
            break
          case 'typing':
            if (frame.user_id !== me) typing.set(frame.room_id, frame.user_id, frame.typing)
            break
          case 'receipt':
            applyReceipt(queryClient, frame, me)
            break
          case 'presence':
            applyPresence(queryClient, frame)
            break
          case 'sent':
            outbox.dispatch({
              type: 'sent',
              txnId: frame.txn_id,
              eventId: frame.event_id,
              seq: frame.seq,
            })
            break
          case 'error':
            if (frame.txn_id) {
              outbox.dispatch({ type: 'failed', txnId: frame.txn_id, error: frame.error })
            }
            break
        }
      },
    })

    const outbox = new OutboxStore((message) =>
      sendEvent(
        session,
        message.roomId,
        MESSAGE_EVENT_TYPE,
        message.txnId,
        encodeMessage(message.text),
      ),
    )

    client.start()
    // eslint-disable-next-line react-hooks/set-state-in-effect -- the connection lives as long as the session
    setRealtime({
      client,
      typing,
      outbox,
      setActiveRoom: (roomId) => {
        activeRoom = roomId
      },
    })
    return () => {
      clearTimeout(flushTimer)
      client.stop()
      typing.clear()
      setRealtime(null)
    }
  }, [userId, session, queryClient])

  return <ChatRealtimeContext value={realtime}>{children}</ChatRealtimeContext>
}
