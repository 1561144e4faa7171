/** Managing a group: members, roles, name and topic, leaving. */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { toast } from 'sonner'
import * as z from 'zod'

import { roomKeys, type Role } from '@/features/chat/api/rooms'
import type { ApiSchemas } from '@/lib/api/types'
import { useAuthSession } from '@/lib/auth/use-auth'
import { describeApiFailure } from '@/lib/describe-api-failure'

const enc = encodeURIComponent

export type RoomAction =
  | { type: 'add'; userId: string }
  | { type: 'remove'; userId: string }
  | { type: 'role'; userId: string; role: Role }
  | { type: 'update'; name?: string; topic?: string }

/** One change to a room; the server's refusal is shown as a toast. */
export function useRoomAction(roomId: string) {
  const session = useAuthSession()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (action: RoomAction) => {
      const base = `/rooms/${enc(roomId)}`
      const options = { schema: z.unknown() }
      switch (action.type) {
        case 'add': {
          const body: ApiSchemas['AddMemberRequest'] = { user_id: action.userId }
          return session.request(`${base}/members`, { ...options, method: 'POST', body })
        }
        case 'remove':
          return session.request(`${base}/members/${enc(action.userId)}`, {
            ...options,
            method: 'DELETE',
          })
        case 'role': {
          const body: ApiSchemas['SetRoleRequest'] = { role: action.role }
          return session.request(`${base}/members/${enc(action.userId)}/role`, {
            ...options,
            method: 'PUT',
            body,
          })
        }
        case 'update': {
          const body: ApiSchemas['UpdateRoomRequest'] = {
            ...(action.name === undefined ? {} : { name: action.name }),
            ...(action.topic === undefined ? {} : { topic: action.topic }),
          }
          return session.request(base, { ...options, method: 'PATCH', body })
        }
      }
    },
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: roomKeys.list() })
    },
    onError: (error) => {
      toast.error('The change was refused', { description: describeApiFailure(error).detail })
    },
  })
}

const rank: Record<Role, number> = { member: 0, admin: 1, owner: 2 }

/** What the caller (with `mine`) may do to a member (with `theirs`), by the server's rules. */
export function permissions(mine: Role, theirs: Role, isSelf: boolean) {
  const manager = rank[mine] >= rank.admin
  return {
    remove: !isSelf && manager && rank[theirs] < rank.owner && rank[mine] > rank[theirs],
    makeAdmin: !isSelf && manager && theirs === 'member',
    removeAdmin: !isSelf && manager && theirs === 'admin',
    makeOwner: !isSelf && mine === 'owner' && theirs !== 'owner',
  }
}

/** Whether the caller may add members, rename the group or change its topic. */
export function canManage(mine: Role): boolean {
  return rank[mine] >= rank.admin
}
