import '@testing-library/jest-dom/vitest'

import { cleanup } from '@testing-library/react'
import { afterEach, vi } from 'vitest'

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
})
