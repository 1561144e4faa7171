import { afterEach, describe, expect, it, vi } from 'vitest'

import type { ServerFrame } from '@/lib/realtime/frames'
import { RealtimeClient, type SocketLike } from '@/lib/realtime/realtime-client'

class FakeSocket implements SocketLike {
  readyState = 0
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null
  sent: string[] = []
  readonly url: string
  readonly protocols: string[]
  constructor(url: string, protocols: string[]) {
    this.url = url
    this.protocols = protocols
  }
  send(data: string) {
    this.sent.push(data)
  }
  close() {
    this.readyState = 3
  }
  open() {
    this.readyState = 1
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent)
  }
  closeWith(code: number) {
    this.readyState = 3
    this.onclose?.({ code } as CloseEvent)
  }
}

function nth(sockets: FakeSocket[], index: number): FakeSocket {
  const socket = sockets[index]
  if (!socket) throw new Error(`no socket ${String(index)}`)
  return socket
}

function event(streamPos: number, eventId: string, seq = streamPos) {
  return {
    type: 'event',
    stream_pos: streamPos,
    event: {
      event_id: eventId,
      room_id: '!r:s',
      sender: '@bob:s',
      type: 'parley.message',
      seq,
      origin_server_ts: 1,
      content: { body: 'hi' },
    },
  }
}

function setup(tokens: string[] = ['t1', 't2', 't3']) {
  const sockets: FakeSocket[] = []
  const frames: ServerFrame[] = []
  const ended = vi.fn()
  let tokenIndex = 0
  const client = new RealtimeClient({
    getToken: () => Promise.resolve(tokens[Math.min(tokenIndex++, tokens.length - 1)]),
    onFrame: (frame) => frames.push(frame),
    onSessionEnded: ended,
    origin: 'ws://example.test',
    backoffMs: () => 100,
    createSocket: (url, protocols) => {
      const socket = new FakeSocket(url, protocols)
      sockets.push(socket)
      return socket
    },
  })
  return { client, sockets, frames, ended }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('RealtimeClient', () => {
  it('connects with the token as a subprotocol and goes live after catch-up', async () => {
    const { client, sockets, frames } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    const socket = nth(sockets, 0)
    expect(socket.url).toBe('ws://example.test/api/v1/ws')
    expect(socket.protocols).toEqual(['parley.v1', 'parley.token.t1'])
    expect(client.state).toBe('connecting')

    socket.open()
    socket.receive({ type: 'live', stream_pos: 7 })
    expect(client.state).toBe('live')
    expect(client.streamPos).toBe(7)
    expect(frames.map((f) => f.type)).toEqual(['live'])
    client.stop()
  })

  it('drops events it has already seen, by stream position and by event id', async () => {
    const { client, sockets, frames } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    const socket = nth(sockets, 0)
    socket.receive(event(1, '$a'))
    socket.receive(event(2, '$b'))
    socket.receive(event(2, '$b'))
    socket.receive(event(1, '$a'))
    socket.receive(event(3, '$b'))
    socket.receive({ type: 'nonsense' })
    socket.receive(event(4, '$c'))
    expect(frames.map((f) => (f.type === 'event' ? f.event.event_id : f.type))).toEqual([
      '$a',
      '$b',
      '$c',
    ])
    expect(client.streamPos).toBe(4)
    client.stop()
  })

  it('advances the resume position on device-list changes too, and passes key frames on', async () => {
    const { client, sockets, frames } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    const socket = nth(sockets, 0)
    socket.receive(event(1, '$a'))
    socket.receive({ type: 'device_lists', stream_pos: 2, changed: ['@bob:s'], left: [] })
    socket.receive({ type: 'device_lists', stream_pos: 2, changed: ['@bob:s'], left: [] })
    socket.receive({
      type: 'to_device',
      events: [{ id: 5, type: 'm.room.encrypted', sender: '@bob:s', content: {} }],
    })
    socket.receive({
      type: 'key_counts',
      one_time_key_counts: { signed_curve25519: 3 },
      unused_fallback_key_types: [],
    })
    expect(frames.map((f) => f.type)).toEqual(['event', 'device_lists', 'to_device', 'key_counts'])
    expect(client.streamPos).toBe(2)
    client.stop()
  })

  it('reconnects after 4008 with since= and a fresh token', async () => {
    vi.useFakeTimers()
    const { client, sockets } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    const first = nth(sockets, 0)
    first.open()
    first.receive(event(5, '$e'))
    first.receive({ type: 'live', stream_pos: 5 })

    first.closeWith(4008)
    expect(client.state).toBe('reconnecting')
    await vi.advanceTimersByTimeAsync(100)

    expect(sockets).toHaveLength(2)
    const second = nth(sockets, 1)
    expect(second.url).toBe('ws://example.test/api/v1/ws?since=5')
    expect(second.protocols).toEqual(['parley.v1', 'parley.token.t2'])
    second.open()
    second.receive({ type: 'live', stream_pos: 5 })
    expect(client.state).toBe('live')
    client.stop()
  })

  it('stops and reports the end of the session on 4001', async () => {
    const { client, sockets, ended } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    nth(sockets, 0).closeWith(4001)
    expect(ended).toHaveBeenCalledOnce()
    expect(client.state).toBe('idle')
  })

  it('sends frames only while live', async () => {
    const { client, sockets } = setup()
    client.start()
    await vi.waitFor(() => {
      expect(sockets).toHaveLength(1)
    })
    const socket = nth(sockets, 0)
    expect(client.send({ type: 'read', room_id: '!r:s', seq: 1 })).toBe(false)
    socket.open()
    socket.receive({ type: 'live', stream_pos: 0 })
    expect(client.send({ type: 'read', room_id: '!r:s', seq: 1 })).toBe(true)
    expect(socket.sent).toEqual([JSON.stringify({ type: 'read', room_id: '!r:s', seq: 1 })])
    client.stop()
  })
})
