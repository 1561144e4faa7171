/**
 * The delivery state of one's own message, from the other members' receipts. `pending`: queued
 * on our server for the room's server (another homeserver), which has not confirmed it yet.
 */
export type Tick = 'sending' | 'pending' | 'failed' | 'sent' | 'delivered' | 'read'

interface Receipts {
  user_id: string
  delivered_seq: number
  read_seq: number
}

/**
 * Sent ✓ once stored; delivered ✓✓ when any other member's device received it; read when any
 * other member read it (reading implies delivery).
 */
export function tickFor(seq: number, members: readonly Receipts[], me: string): Tick {
  let delivered = false
  for (const member of members) {
    if (member.user_id === me) continue
    if (member.read_seq >= seq) return 'read'
    if (member.delivered_seq >= seq) delivered = true
  }
  return delivered ? 'delivered' : 'sent'
}
