// End-to-end test of the web shell as the homeserver serves it.
//
// Starts a real `parley serve` (env E2E_PARLEY_BIN) against a fresh, empty Postgres database
// (env E2E_DATABASE_URL), serving the built app from web/dist (`npm run build` first), then
// drives Debian's Chromium through playwright-core.
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... npm run e2e

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import { chromium } from 'playwright-core'

const SERVER_NAME = 'e2e.parley.test'
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const STARTUP_DEADLINE_MS = 60_000
const SHUTDOWN_DEADLINE_MS = 30_000
const READY_LINE = /client API and web app: (http:\/\/\S+)/

const WEB_DIST = fileURLToPath(new URL('../dist', import.meta.url))
const RESULTS_DIR = fileURLToPath(new URL('../test-results', import.meta.url))

/** @typedef {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>} ServerProcess */

/** @type {string | undefined} */ let workDir
/** @type {ServerProcess | undefined} */ let server
/** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }> | undefined} */
let serverExit
/** @type {import('playwright-core').BrowserContext | undefined} */ let browser
/** @type {import('playwright-core').Page | undefined} */ let page
/** Base URL of the running server, ending with `/`. */
let baseUrl = ''

/** The server's log lines (stdout and stderr), replayed to our stderr if anything fails. */
const serverLog = /** @type {string[]} */ ([])
let serverLogDumped = false
function dumpServerLog() {
  if (serverLogDumped) return
  serverLogDumped = true
  process.stderr.write(`\n----- parley server output (${String(serverLog.length)} lines) -----\n`)
  process.stderr.write(serverLog.join('\n'))
  process.stderr.write('\n----- end of parley server output -----\n')
}

/** Everything the page reported that should not happen: console errors, CSP violations, crashes. */
const pageProblems = /** @type {string[]} */ ([])

/**
 * Resolve with `promise`, or reject if it takes longer than `ms`.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
async function withDeadline(promise, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer
  /** @type {Promise<never>} */
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no result within ${String(ms / 1000)} s`))
    }, ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** A TOML basic string. JSON's string escapes are valid TOML escapes. */
const tomlString = (/** @type {string} */ value) => JSON.stringify(value)

/**
 * Define a test that replays the server log when it fails.
 * @param {string} name
 * @param {() => Promise<void>} fn
 */
function step(name, fn) {
  it(name, async () => {
    try {
      await fn()
    } catch (error) {
      dumpServerLog()
      throw error
    }
  })
}

/** @returns {import('playwright-core').Page} */
function currentPage() {
  assert.ok(page, 'the browser did not start')
  return page
}

describe('web shell served by the homeserver', { timeout: 180_000 }, () => {
  before(async () => {
    const parleyBin = process.env.E2E_PARLEY_BIN
    const databaseUrl = process.env.E2E_DATABASE_URL
    // Missing inputs are a failure, not a skip: a skipped e2e test looks too much like a pass.
    assert.ok(parleyBin, 'E2E_PARLEY_BIN must be set to the path of the `parley` binary')
    assert.ok(
      databaseUrl,
      'E2E_DATABASE_URL must be set to the URL of a fresh, empty Postgres database',
    )
    await access(parleyBin).catch((/** @type {unknown} */ cause) => {
      throw new Error(`E2E_PARLEY_BIN=${parleyBin} does not exist`, { cause })
    })
    await access(join(WEB_DIST, 'index.html')).catch((/** @type {unknown} */ cause) => {
      throw new Error(`${WEB_DIST}/index.html not found: run \`npm run build\` first`, { cause })
    })
    await mkdir(RESULTS_DIR, { recursive: true })

    workDir = await mkdtemp(join(tmpdir(), 'parley-web-e2e-'))
    const configPath = join(workDir, 'parley.toml')
    await writeFile(
      configPath,
      [
        `server_name = ${tomlString(SERVER_NAME)}`,
        `public_base_url = "http://127.0.0.1:8008" # informational`,
        `data_dir = ${tomlString(join(workDir, 'data'))}`,
        `web_root = ${tomlString(WEB_DIST)}`,
        '',
        '[client]',
        'listen = "127.0.0.1:0"',
        '',
        '[database]',
        `url = ${tomlString(databaseUrl)}`,
        'max_connections = 4',
        '',
        '[log]',
        'format = "json"',
        '',
      ].join('\n'),
    )

    // The homeserver reads PARLEY_* variables as config overrides and rejects unknown keys, so
    // the child gets our environment without them: the file above is its whole configuration.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('PARLEY_')),
    )
    const child = spawn(parleyBin, ['serve', '--config', configPath], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server = child
    serverExit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve({ code, signal })
      })
      // Failed to spawn at all (e.g. not executable): there will be no 'exit' event.
      child.once('error', () => {
        resolve({ code: null, signal: null })
      })
    })
    // Read both pipes to the end, always: a full pipe would block the server.
    createInterface({ input: child.stderr }).on('line', (line) => serverLog.push(line))
    const stdoutLines = createInterface({ input: child.stdout })

    /** @type {Promise<string>} */
    const ready = new Promise((resolve, reject) => {
      stdoutLines.on('line', (line) => {
        serverLog.push(line)
        const match = READY_LINE.exec(line)
        if (match?.[1] !== undefined) resolve(match[1])
      })
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        reject(
          new Error(
            `parley exited before it was ready (code ${String(code)}, signal ${String(signal)})`,
          ),
        )
      })
    })
    try {
      baseUrl = await withDeadline(
        ready,
        STARTUP_DEADLINE_MS,
        'waiting for "client API and web app: <url>" on stdout',
      )
    } catch (error) {
      dumpServerLog()
      throw error
    }
    if (!baseUrl.endsWith('/')) baseUrl += '/'

    browser = await chromium.launchPersistentContext(join(workDir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 800 },
    })
    // Report CSP violations from inside the page too: not every one reaches the console.
    await browser.exposeFunction('__parleyReportCspViolation', (/** @type {string} */ text) => {
      pageProblems.push(`CSP violation: ${text}`)
    })
    // Runs in the page (injected by the browser, so the page's CSP does not apply to it).
    await browser.addInitScript({
      content: `document.addEventListener('securitypolicyviolation', (event) => {
        window.__parleyReportCspViolation(
          event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline content'))
      })`,
    })
    page = browser.pages()[0] ?? (await browser.newPage())
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console error: ${message.text()}`)
    })
    page.on('pageerror', (error) => pageProblems.push(`uncaught exception: ${error.message}`))
  })

  after(async () => {
    // Clean up whatever was started, even if a step failed half-way.
    await browser?.close().catch(() => undefined)
    if (serverExit && server?.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL')
      await withDeadline(serverExit, 10_000, 'waiting for parley to die')
    }
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  step('welcomes the user to the server, by name and version', async () => {
    const page = currentPage()
    const apiResponse = await fetch(new URL('api/v1/server', baseUrl))
    assert.equal(apiResponse.status, 200)
    const info = /** @type {{ server_name: string, version: string }} */ (await apiResponse.json())
    assert.equal(info.server_name, SERVER_NAME)

    const response = await page.goto(baseUrl)

    // The checks for CSP violations below only mean something if the policy is in force.
    assert.ok(response, 'no response for the base URL')
    const csp = response.headers()['content-security-policy'] ?? ''
    assert.match(csp, /style-src 'self'/, `unexpected Content-Security-Policy: "${csp}"`)
    assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/)

    const serverName = page.locator('[data-testid=server-name]')
    await serverName.waitFor({ state: 'visible' })
    assert.equal((await serverName.innerText()).trim(), SERVER_NAME)
    const version = page.locator('[data-testid=server-version]')
    await version.waitFor({ state: 'visible' })
    assert.equal((await version.innerText()).trim(), info.version)
    assert.match(await page.title(), new RegExp(SERVER_NAME.replaceAll('.', '\\.')))
    await page.screenshot({ path: join(RESULTS_DIR, 'home.png'), fullPage: true })

    assert.deepEqual(pageProblems, [], 'the page reported errors or CSP violations')
  })

  step('opens the sign-in route from the Sign in button', async () => {
    const page = currentPage()
    await page.getByRole('link', { name: 'Sign in' }).click()

    await page.waitForURL(new URL('sign-in', baseUrl).href)
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ state: 'visible' })
    await page.getByTestId('sign-in-unavailable').waitFor({ state: 'visible' })
    await page.screenshot({ path: join(RESULTS_DIR, 'sign-in.png'), fullPage: true })

    assert.deepEqual(pageProblems, [], 'the page reported errors or CSP violations')
  })

  step('serves the app for unknown deep links, which shows its 404 page', async () => {
    const page = currentPage()
    const response = await page.goto(new URL('some/deep/client/route', baseUrl).href)

    assert.ok(response, 'no response for the deep link')
    assert.match(response.headers()['content-type'] ?? '', /^text\/html/)
    const notFound = page.getByTestId('not-found')
    await notFound.waitFor({ state: 'visible' })
    assert.match(await notFound.innerText(), /Page not found/)
    assert.match(await notFound.innerText(), /\/some\/deep\/client\/route/)
    await page.screenshot({ path: join(RESULTS_DIR, 'not-found.png'), fullPage: true })

    assert.deepEqual(pageProblems, [], 'the page reported errors or CSP violations')
  })

  step('shuts down cleanly on SIGTERM', async () => {
    assert.ok(server && serverExit, 'the server did not start')
    server.kill('SIGTERM')

    const { code, signal } = await withDeadline(
      serverExit,
      SHUTDOWN_DEADLINE_MS,
      'waiting for parley to exit after SIGTERM',
    )

    assert.equal(signal, null, `parley was killed by ${String(signal)} instead of exiting`)
    assert.equal(code, 0, `parley exited with code ${String(code)}`)
  })
})
