import { useEffect, useState } from 'react'

import { useE2ee } from '@/features/chat/realtime-context'
import type { DeviceInfo, IdentityInfo } from '@/lib/crypto/e2ee-client'

export interface UserTrust extends IdentityInfo {
  devices: DeviceInfo[]
}

/**
 * What this device knows about the keys of `userIds`: their devices, and whether the user
 * and each device are verified. Updated whenever the crypto machine learns something new about
 * them (new devices, signatures, a finished verification). `undefined` while loading.
 */
export function useUserTrust(userIds: readonly string[]): Map<string, UserTrust> | undefined {
  const e2ee = useE2ee()
  const client = e2ee.status === 'ready' ? e2ee.client : undefined
  const key = [...userIds].sort().join('\n')
  const [trust, setTrust] = useState<{ key: string; value: Map<string, UserTrust> }>()

  useEffect(() => {
    if (!client) return
    const users = key === '' ? [] : key.split('\n')
    let cancelled = false
    const load = async () => {
      const entries = await Promise.all(
        users.map(async (userId): Promise<[string, UserTrust]> => {
          const [identity, devices] = await Promise.all([
            client.identity(userId),
            client.userDevices(userId),
          ])
          return [userId, { ...identity, devices }]
        }),
      )
      if (!cancelled) setTrust({ key, value: new Map(entries) })
    }
    const reload = () => {
      load().catch((error: unknown) => {
        console.warn('Could not read device trust', error)
      })
    }
    reload()
    // Make sure the machine follows these users (fetching their devices if new to it).
    client.trackUsers(users).then(reload, reload)
    const offDevices = client.devices.on((changed) => {
      if (changed.some((u) => users.includes(u))) reload()
    })
    const offTrust = client.trustChanged.on(reload)
    return () => {
      cancelled = true
      offDevices()
      offTrust()
    }
  }, [client, key])

  return trust?.key === key ? trust.value : undefined
}
