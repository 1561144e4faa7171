/// <reference types="vitest/config" />
import { fileURLToPath } from 'node:url'

import tailwindcss from '@tailwindcss/vite'
import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin, type ProxyOptions } from 'vite'

/** Where `npm run dev` / `npm run preview` forward API calls: a homeserver running locally. */
const HOMESERVER_ORIGIN = 'http://127.0.0.1:8008'

/**
 * The Content-Security-Policy the homeserver sends with the built app. `vite preview` sends it
 * too, so a production build can be checked for violations locally. (The dev server cannot: it
 * injects <style> tags for hot reloading.)
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const proxy: Record<string, ProxyOptions> = {
  '/api': { target: HOMESERVER_ORIGIN, ws: true },
  '/health': { target: HOMESERVER_ORIGIN, ws: true },
}

/**
 * Sonner appends a <style> element to <head> when its module is first evaluated. Under the
 * homeserver's CSP (`style-src 'self'`, no 'unsafe-inline') the browser refuses it and logs a
 * violation. We load the same rules from `sonner/dist/styles.css` through our stylesheet
 * instead, and turn the runtime injection into a no-op here.
 *
 * The build fails if the injector is not found, so a sonner upgrade that changes it cannot
 * silently bring the CSP violation back.
 */
function sonnerWithoutRuntimeStyles(): Plugin {
  const injector = 'function __insertCSS(code) {'
  return {
    name: 'parley:sonner-without-runtime-styles',
    enforce: 'pre',
    transform: {
      filter: { id: /[\\/]node_modules[\\/]sonner[\\/]dist[\\/]index\.mjs(?:\?.*)?$/ },
      handler(code, id) {
        if (!code.includes(injector)) {
          this.error(`sonner's runtime CSS injector was not found in ${id}; update this plugin`)
        }
        // Keep the function (it is called at module level) but make it return immediately.
        return { code: code.replace(injector, `${injector} return;`), map: null }
      },
    },
  }
}

export default defineConfig({
  plugins: [sonnerWithoutRuntimeStyles(), react(), tailwindcss()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  optimizeDeps: {
    // The end-to-end crypto module ships its own wasm and must not be pre-bundled.
    // Sonner is left out so the plugin above also applies to it in dev.
    exclude: ['@matrix-org/matrix-sdk-crypto-wasm', 'sonner'],
  },
  server: { proxy },
  preview: {
    proxy,
    headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY },
  },
  build: {
    // Hashed, immutable files; the homeserver serves them with long-lived cache headers.
    assetsDir: 'assets',
    target: 'es2022',
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            // React changes less often than the app, so its own file stays cached across
            // deploys (and no single file grows past Vite's size warning).
            { name: 'react', test: /[\\/]node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
          ],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['./src/testing/setup-tests.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
})
