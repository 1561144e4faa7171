import { paths } from '@/config/paths'

/** The address of one conversation. */
export function chatPath(roomId: string): string {
  return `${paths.chats}/${encodeURIComponent(roomId)}`
}
