import '@testing-library/jest-dom/vitest'

import { cleanup } from '@testing-library/react'
import { toast } from 'sonner'
import { afterEach, vi } from 'vitest'

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

afterEach(() => {
  cleanup()
  // Sonner keeps toasts in a module-level store and replays active ones to a new <Toaster>.
  toast.dismiss()
  disposeTestSessions()
  localStorage.clear()
})
