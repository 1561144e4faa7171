import '@testing-library/jest-dom/vitest'

import { cleanup } from '@testing-library/react'
import { toast } from 'sonner'
import { afterEach, beforeEach, vi } from 'vitest'

import { disposeTestSessions } from '@/testing/test-sessions'

// jsdom has no matchMedia; sonner's "system" theme asks it for the colour-scheme preference.
if (typeof window.matchMedia !== 'function') {
  Object.defineProperty(window, 'matchMedia', {
    configurable: true,
    // Always "light"; the deprecated addListener/removeListener are left out on purpose.
    value: (query: string) =>
      ({
        matches: false,
        media: query,
        onchange: null,
        addEventListener: vi.fn(),
        removeEventListener: vi.fn(),
        dispatchEvent: () => false,
      }) as Partial<MediaQueryList> as MediaQueryList,
  })
}

// The realtime connection of signed-in screens: a socket that never connects, so that tests
// of other screens make no network attempts (the realtime client has its own tests).
class IdleWebSocket extends EventTarget {
  readyState = 0
  onopen = null
  onmessage = null
  onclose = null
  onerror = null
  send() {
    // never open
  }
  close() {
    this.readyState = 3
  }
}
beforeEach(() => {
  vi.stubGlobal('WebSocket', IdleWebSocket)
})

afterEach(() => {
  cleanup()
  // Sonner keeps toasts in a module-level store and replays active ones to a new <Toaster>.
  toast.dismiss()
  disposeTestSessions()
  localStorage.clear()
})
