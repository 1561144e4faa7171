import { useQueryClient } from '@tanstack/react-query'
import { useEffect, useState, type ReactNode } from 'react'

import * as z from 'zod'

import { getRoom, roomKeys, roomsQuery, sendEvent, type Timeline } from '@/features/chat/api/rooms'
import { DecryptionStore } from '@/features/chat/model/decryption-store'
import { DeviceNoticeStore } from '@/features/chat/model/device-notices'
import { VerificationStore } from '@/features/chat/model/verification-store'
import { VerificationDialog } from '@/features/chat/components/verification-dialog'
import {
  ENCRYPTED_EVENT_TYPE,
  MESSAGE_EVENT_TYPE,
  encodeMessage,
} from '@/features/chat/model/message-content'
import { OutboxStore } from '@/features/chat/model/outbox-store'
import { applyEvent, applyPresence, applyReceipt } from '@/features/chat/model/room-cache'
import { TypingStore } from '@/features/chat/model/typing-store'
import {
  ChatRealtimeContext,
  E2eeContext,
  type ChatRealtime,
  type CrossSigningState,
  type E2eeState,
} from '@/features/chat/realtime-context'
import { ApiError } from '@/lib/api-client'
import { useAuthSession, useAuthState } from '@/lib/auth/use-auth'
import { E2eeClient, type SyncInput, type Transport } from '@/lib/crypto/e2ee-client'
import { RealtimeClient } from '@/lib/realtime/realtime-client'
import type { ServerFrame } from '@/lib/realtime/frames'

/** How long to gather `delivered` receipts before sending them (one per room). */
const DELIVERED_FLUSH_MS = 300
/**
 * A server that does not push key state over the WebSocket (no `to_device`, `key_counts` or
 * `device_lists` frames) is asked over REST this often instead.
 */
const KEY_POLL_MS = 3000
/** At most one REST catch-up per this long when messages turn out undecryptable. */
const MISSING_KEY_CATCH_UP_MS = 2000

/**
 * The signed-in user's realtime connection: one WebSocket for the session, whose frames update
 * the room list and timelines in the query cache. Mount once, inside the auth provider.
 */
export function ChatRealtimeProvider({ children }: { children: ReactNode }) {
  const session = useAuthSession()
  const state = useAuthState()
  const queryClient = useQueryClient()
  const userId = state.status === 'signed-in' ? state.user.userId : undefined
  const deviceId = state.status === 'signed-in' ? state.user.deviceId : undefined
  const [realtime, setRealtime] = useState<ChatRealtime | null>(null)
  const [e2eeState, setE2eeState] = useState<E2eeState>({ status: 'opening' })

  useEffect(() => {
    if (userId === undefined || deviceId === undefined) return
    const me = userId
    let disposed = false

    // ---- end-to-end encryption: this device's OlmMachine ---------------------------------
    const transport: Transport = (method, path, body) =>
      session.request(path, { method, body, schema: z.unknown() })
    let lastCatchUp = 0
    const decryption = new DecryptionStore(() => {
      if (Date.now() - lastCatchUp < MISSING_KEY_CATCH_UP_MS) return
      lastCatchUp = Date.now()
      void e2eeReady.then((e2ee) => e2ee?.catchUp()).catch(warn('catching up on keys'))
    })
    const notices = new DeviceNoticeStore(me)
    let verificationStore: VerificationStore | undefined
    const announceNewDevices = async (e2ee: E2eeClient, userIds: readonly string[]) => {
      for (const userId of new Set(userIds)) {
        if (userId === me) continue
        const fresh = notices.observe(userId, await e2ee.userDevices(userId))
        if (fresh.length === 0) continue
        const rooms = await queryClient.query({ ...roomsQuery(session), staleTime: 'static' })
        const shared = rooms
          .filter((room) => room.members.some((m) => m.user_id === userId))
          .map((room) => room.room_id)
        for (const device of fresh) notices.announce(shared, userId, device)
      }
    }
    /** Follow the devices of everyone in the user's rooms (new devices get announced). */
    const trackEveryone = async (e2ee: E2eeClient) => {
      const rooms = await queryClient.query({ ...roomsQuery(session), staleTime: 'static' })
      const users = new Set(rooms.flatMap((room) => room.members.map((m) => m.user_id)))
      users.add(me)
      await e2ee.trackUsers([...users])
    }

    const e2eeReady: Promise<E2eeClient | undefined> = E2eeClient.open({
      userId: me,
      deviceId,
      transport,
    }).then(
      async (e2ee) => {
        if (disposed) {
          e2ee.close()
          return undefined
        }
        e2ee.roomKeys.on((sessionIds) => {
          decryption.retrySessions(sessionIds)
        })
        e2ee.devices.on((userIds) => {
          announceNewDevices(e2ee, userIds).catch(warn('checking for new devices'))
        })
        decryption.setDecrypt((event) => e2ee.decrypt(event))
        const verification = new VerificationStore(e2ee)
        verificationStore = verification
        const ready = (crossSigning: CrossSigningState) => {
          if (disposed) return
          setE2eeState({
            status: 'ready',
            client: e2ee,
            crossSigning,
            verification,
            setUpCrossSigning: async (password) => {
              const result = await e2ee.bootstrapCrossSigning(password)
              // 'exists': another device set it up meanwhile; this one needs verifying by it.
              ready(
                result === 'created' || (await e2ee.crossSigningReady())
                  ? 'ready'
                  : 'needs-verification',
              )
            },
          })
        }
        ready('checking')
        // The device's keys go up on first use; anything else queued from last time too.
        await e2ee.processOutgoing().catch(warn('uploading keys'))
        // Cross-signing at first sign-in, so that the user's devices can vouch for each other.
        const crossSigning = await e2ee.bootstrapCrossSigning().then(
          async (result): Promise<CrossSigningState> =>
            result === 'created' || (await e2ee.crossSigningReady())
              ? 'ready'
              : 'needs-verification',
          (error: unknown): CrossSigningState => {
            if (error instanceof ApiError && error.status === 401) return 'needs-password'
            warn('setting up cross-signing')(error)
            return 'checking'
          },
        )
        ready(crossSigning)
        // A device verified by another may now get the cross-signing keys from it.
        e2ee.trustChanged.on(() => {
          void e2ee
            .crossSigningReady()
            .then(async (has) => {
              if (has) return true
              await e2ee.requestMissingSecrets()
              return e2ee.crossSigningReady()
            })
            .then((has) => {
              if (has) ready('ready')
            })
            .catch(warn('fetching cross-signing keys'))
        })
        return e2ee
      },
      (error: unknown) => {
        console.warn('End-to-end encryption is not available', error)
        if (!disposed) {
          setE2eeState({
            status: 'failed',
            error: error instanceof Error ? error.message : String(error),
          })
        }
        return undefined
      },
    )

    // Key state from the server, handed to the machine in the order it came.
    let keyChain: Promise<unknown> = e2eeReady
    let serverPushesKeys = false
    let pollTimer: ReturnType<typeof setTimeout> | undefined
    const withE2ee = (what: string, task: (e2ee: E2eeClient) => Promise<unknown>) => {
      keyChain = keyChain
        .then(() => e2eeReady)
        .then((e2ee) => (e2ee && !e2ee.closed ? task(e2ee) : undefined))
        .catch(warn(what))
    }
    const receiveKeys = (frame: ServerFrame) => {
      serverPushesKeys = true
      let input: SyncInput
      if (frame.type === 'to_device') input = { toDevice: frame.events }
      else if (frame.type === 'device_lists') input = { changed: frame.changed, left: frame.left }
      else if (frame.type === 'key_counts') {
        input = {
          oneTimeKeyCounts: frame.one_time_key_counts,
          unusedFallbackKeyTypes: frame.unused_fallback_key_types,
        }
      } else return
      withE2ee('handling key state', async (e2ee) => {
        const upTo = await e2ee.receiveSync(input)
        if (upTo !== undefined) client.send({ type: 'to_device_ack', up_to_id: upTo })
      })
    }
    const poll = () => {
      pollTimer = undefined
      if (disposed || serverPushesKeys) return
      withE2ee('fetching keys', (e2ee) => e2ee.catchUp())
      keyChain = keyChain.finally(() => {
        if (!disposed && !serverPushesKeys) pollTimer = setTimeout(poll, KEY_POLL_MS)
      })
    }
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
            if (event.type === ENCRYPTED_EVENT_TYPE) decryption.request([event])
            if (event.type === 'parley.room.member') {
              // Membership changed: the next message goes out under a new Megolm session.
              withE2ee('rotating the room key', (e2ee) => e2ee.rotateRoomKey(event.room_id))
            }
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
            } else {
              decryption.retryAll() // keys may have come meanwhile
            }
            // Devices may have changed while this page was closed or offline.
            withE2ee('refreshing device lists', async (e2ee) => {
              await trackEveryone(e2ee)
              await e2ee.refreshDeviceLists()
            })
            pollTimer ??= setTimeout(poll, serverPushesKeys ? 0 : 500)
            scheduleFlush()
            break
          case 'to_device':
          case 'device_lists':
          case 'key_counts':
            receiveKeys(frame)
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
          case 'sent': {
            // Also how a message queued for another server (202) settles, perhaps after its
            // event has already come in: then the optimistic copy can go at once.
            outbox.dispatch({
              type: 'sent',
              txnId: frame.txn_id,
              eventId: frame.event_id,
              seq: frame.seq,
            })
            const roomId = outbox.getSnapshot().find((m) => m.txnId === frame.txn_id)?.roomId
            const timeline =
              roomId === undefined
                ? undefined
                : queryClient.getQueryData<Timeline>(roomKeys.timeline(roomId))
            if (timeline?.events.some((e) => e.event_id === frame.event_id)) {
              outbox.dispatch({ type: 'echoed', eventIds: new Set([frame.event_id]) })
            }
            break
          }
          case 'error':
            if (frame.txn_id) {
              outbox.dispatch({ type: 'failed', txnId: frame.txn_id, error: frame.error })
            }
            break
        }
      },
    })

    // Every message is encrypted for the room's current members before it leaves.
    const outbox = new OutboxStore(
      async (message) => {
        const e2ee = await e2eeReady
        if (!e2ee) throw new Error('End-to-end encryption is not available on this device.')
        const room = await getRoom(session, message.roomId)
        const content = await e2ee.encrypt(
          message.roomId,
          room.members.map((m) => m.user_id),
          MESSAGE_EVENT_TYPE,
          encodeMessage(message.text),
        )
        return sendEvent(session, message.roomId, ENCRYPTED_EVENT_TYPE, message.txnId, content)
      },
      {
        // This device's sends still queued for another server, listed by a history load after a
        // reload: their text is read back like any event of the room this device sent.
        userId: me,
        decrypt: async (event) => {
          const e2ee = await e2eeReady
          if (!e2ee) throw new Error('End-to-end encryption is not available on this device.')
          return e2ee.decrypt(event)
        },
      },
    )

    client.start()
    // eslint-disable-next-line react-hooks/set-state-in-effect -- the connection lives as long as the session
    setRealtime({
      client,
      typing,
      outbox,
      decryption,
      notices,
      setActiveRoom: (roomId) => {
        activeRoom = roomId
      },
    })
    return () => {
      disposed = true
      clearTimeout(flushTimer)
      clearTimeout(pollTimer)
      client.stop()
      typing.clear()
      decryption.clear()
      verificationStore?.dispose()
      void e2eeReady.then((e2ee) => e2ee?.close())
      setRealtime(null)
      setE2eeState({ status: 'opening' })
    }
  }, [userId, deviceId, session, queryClient])

  return (
    <E2eeContext value={e2eeState}>
      <ChatRealtimeContext value={realtime}>{children}</ChatRealtimeContext>
      <VerificationDialog />
    </E2eeContext>
  )
}

function warn(what: string) {
  return (error: unknown) => {
    console.warn(`End-to-end encryption: failed ${what}`, error)
  }
}
