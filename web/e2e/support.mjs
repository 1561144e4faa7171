// Shared helpers of the end-to-end tests: a real `parley serve` against a Postgres database,
// Chromium driven by playwright-core with the page's errors and CSP violations collected, and
// the mailbox folder where a server without SMTP writes its mail.

import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { chromium } from 'playwright-core'

export const SERVER_NAME = 'e2e.parley.test'
/** What the config says; the real address is only known once the server listens (port 0). */
export const CONFIGURED_BASE_URL = 'http://127.0.0.1:8008'

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
export const SHUTDOWN_DEADLINE_MS = 30_000
const READY_LINE = /client API and web app: (http:\/\/\S+)/

export const WEB_DIST = fileURLToPath(new URL('../dist', import.meta.url))
export const RESULTS_DIR = fileURLToPath(new URL('../test-results', import.meta.url))

const execFileAsync = promisify(execFile)

/**
 * Resolve with `promise`, or reject if it takes longer than `ms`.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function withDeadline(promise, ms, what) {
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
 * The inputs every e2e test needs. Missing ones are a failure, not a skip: a skipped e2e test
 * looks too much like a pass.
 * @returns {Promise<{ parleyBin: string, databaseUrl: string }>}
 */
export async function requireInputs() {
  const parleyBin = process.env.E2E_PARLEY_BIN
  const databaseUrl = process.env.E2E_DATABASE_URL
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
  return { parleyBin, databaseUrl }
}

// ---- databases --------------------------------------------------------------------------

/**
 * A fresh database named `<name of E2E_DATABASE_URL's database>_<suffix>` on the same server,
 * made through the `postgres` maintenance database (so the user needs CREATEDB). Lets each test
 * file start its own homeserver on an empty database while `scripts/test` makes only one.
 * @param {string} databaseUrl
 * @param {string} suffix
 * @returns {Promise<{ url: string, drop: () => Promise<void> }>}
 */
export async function createSiblingDatabase(databaseUrl, suffix) {
  const base = new URL(databaseUrl)
  const name = `${decodeURIComponent(base.pathname.slice(1))}_${suffix}`
  assert.match(name, /^[a-z0-9_]+$/, `unexpected database name ${name}`)
  const admin = new URL(databaseUrl)
  admin.pathname = '/postgres'
  const psql = (/** @type {string} */ sql) =>
    execFileAsync('psql', [admin.href, '-v', 'ON_ERROR_STOP=1', '-qc', sql]).catch(
      (/** @type {unknown} */ cause) => {
        throw new Error(`psql failed: ${sql} (is psql installed, may the user create databases?)`, {
          cause,
        })
      },
    )
  await psql(`drop database if exists "${name}" with (force)`)
  await psql(`create database "${name}"`)
  const url = new URL(databaseUrl)
  url.pathname = `/${name}`
  return {
    url: url.href,
    drop: () => psql(`drop database if exists "${name}" with (force)`).then(() => undefined),
  }
}

/**
 * Wait until `devices` devices of `userId` have uploaded their encryption keys and the user has
 * cross-signing keys (what the web app does right after sign-in). A message sent to someone
 * whose device the sender does not know yet is, rightly, undecryptable on that device, so
 * tests that chat right after signing in wait for this first.
 * @param {string} databaseUrl
 * @param {string} userId
 * @param {number} devices
 */
export async function waitForDeviceKeys(databaseUrl, userId, devices) {
  assert.match(userId, /^@[a-z0-9._=-]+:[a-z0-9.:-]+$/, `unexpected user id ${userId}`)
  const sql = `select (select count(*) from device_key join account using (account_id)
      where user_id = '${userId}') || '/' ||
    (select count(*) from cross_signing_key join account using (account_id)
      where user_id = '${userId}')`
  const until = Date.now() + 30_000
  for (;;) {
    const { stdout } = await execFileAsync('psql', [databaseUrl, '-Atc', sql])
    if (stdout.trim() === `${String(devices)}/3`) return
    if (Date.now() > until) {
      throw new Error(`keys of ${userId} (devices/cross-signing): ${stdout.trim()}`)
    }
    await sleep(200)
  }
}

// ---- the homeserver ---------------------------------------------------------------------

/**
 * @typedef {object} Homeserver
 * @property {string} baseUrl where it serves the app and the API, ending with `/`
 * @property {string} dataDir its data folder (the mailbox is `mailbox/` in it)
 * @property {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} exited
 * @property {(signal: NodeJS.Signals) => void} kill
 * @property {() => boolean} running
 * @property {() => void} dumpLog replays its output to our stderr (once)
 * @property {() => Promise<void>} stop kills it if still running and removes its files
 */

/**
 * A TCP port nobody listens on right now.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('no free port'))
      })
    })
  })
}

/**
 * Start `parley serve` on a free port, serving web/dist, with a config of our own making.
 * `listen` replaces the client listener's address (default: a free port, whose origin the
 * server is told to allow for WebSockets);
 * `clientConfig` adds lines to its `[client]` section; `serverName` replaces `SERVER_NAME`.
 * @param {{ parleyBin: string, databaseUrl: string, extraConfig?: string[], listen?: string,
 *   clientConfig?: string[], serverName?: string }} options
 * @returns {Promise<Homeserver>}
 */
export async function startHomeserver({
  parleyBin,
  databaseUrl,
  extraConfig = [],
  listen,
  clientConfig = [],
  serverName = SERVER_NAME,
}) {
  // A browser may open the WebSocket only from the server's configured origin or an allowed
  // one, so the port is picked here and the origin the browser will use is allowed.
  const port = listen === undefined ? await freePort() : undefined
  const clientListen = listen ?? `127.0.0.1:${String(port)}`
  const origins =
    port === undefined
      ? []
      : [`allowed_origins = [${tomlString(`http://127.0.0.1:${String(port)}`)}]`]

  const workDir = await mkdtemp(join(tmpdir(), 'parley-web-e2e-'))
  const dataDir = join(workDir, 'data')
  const configPath = join(workDir, 'parley.toml')
  await writeFile(
    configPath,
    [
      `server_name = ${tomlString(serverName)}`,
      `public_base_url = ${tomlString(CONFIGURED_BASE_URL)} # informational`,
      `data_dir = ${tomlString(dataDir)}`,
      `web_root = ${tomlString(WEB_DIST)}`,
      '',
      '[client]',
      `listen = ${tomlString(clientListen)}`,
      ...origins,
      ...clientConfig,
      '',
      '[database]',
      `url = ${tomlString(databaseUrl)}`,
      'max_connections = 4',
      '',
      '[accounts]',
      // The lowest cost the server accepts: sign-ups and sign-ins stay quick on small machines.
      'bcrypt_cost = 10',
      '',
      '[log]',
      'format = "json"',
      '',
      ...extraConfig,
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
  /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} */
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal })
    })
    // Failed to spawn at all (e.g. not executable): there will be no 'exit' event.
    child.once('error', () => {
      resolve({ code: null, signal: null })
    })
  })

  /** The server's log lines (stdout and stderr), replayed to our stderr if anything fails. */
  const log = /** @type {string[]} */ ([])
  let dumped = false
  const dumpLog = () => {
    if (dumped) return
    dumped = true
    process.stderr.write(`\n----- parley server output (${String(log.length)} lines) -----\n`)
    process.stderr.write(log.join('\n'))
    process.stderr.write('\n----- end of parley server output -----\n')
  }

  // Read both pipes to the end, always: a full pipe would block the server.
  createInterface({ input: child.stderr }).on('line', (line) => log.push(line))
  const stdoutLines = createInterface({ input: child.stdout })
  /** @type {Promise<string>} */
  const ready = new Promise((resolve, reject) => {
    stdoutLines.on('line', (line) => {
      log.push(line)
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

  const running = () => child.exitCode === null && child.signalCode === null
  const stop = async () => {
    if (running()) {
      child.kill('SIGKILL')
      await withDeadline(exited, 10_000, 'waiting for parley to die')
    }
    await rm(workDir, { recursive: true, force: true })
  }

  let baseUrl
  try {
    baseUrl = await withDeadline(
      ready,
      STARTUP_DEADLINE_MS,
      'waiting for "client API and web app: <url>" on stdout',
    )
  } catch (error) {
    dumpLog()
    await stop()
    throw error
  }
  if (!baseUrl.endsWith('/')) baseUrl += '/'

  return {
    baseUrl,
    dataDir,
    exited,
    kill: (signal) => child.kill(signal),
    running,
    dumpLog,
    stop,
  }
}

// ---- two federating homeservers -----------------------------------------------------------

export const PAIR_SERVER_NAMES = /** @type {const} */ (['org-a.parley.test', 'org-b.parley.test'])
const MAKE_CERTS = fileURLToPath(new URL('../../deploy/demo/make-certs', import.meta.url))

/**
 * @typedef {object} FederatedServer
 * @property {string} serverName
 * @property {Homeserver} server
 * @property {string} databaseUrl its own database
 */

/**
 * Two homeservers, each with its own database (`<E2E database>_<suffix>_a` and `_b`), that
 * federate with each other over loopback TLS as `scripts/demo` sets them up: certificates from
 * a private CA made by deploy/demo/make-certs, each pinning the other's name to its federation
 * port, private addresses allowed. `stop` stops both and drops their databases.
 * @param {{ parleyBin: string, databaseUrl: string, suffix: string }} options
 * @returns {Promise<{ a: FederatedServer, b: FederatedServer, stop: () => Promise<void> }>}
 */
export async function startFederatedPair({ parleyBin, databaseUrl, suffix }) {
  const tlsDir = await mkdtemp(join(tmpdir(), 'parley-web-e2e-tls-'))
  /** @type {{ drop: () => Promise<void> }[]} */
  const databases = []
  /** @type {Homeserver[]} */
  const servers = []
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
    await Promise.all(databases.map((database) => database.drop()))
    await rm(tlsDir, { recursive: true, force: true })
  }
  try {
    await execFileAsync(MAKE_CERTS, [tlsDir, ...PAIR_SERVER_NAMES]).catch(
      (/** @type {unknown} */ cause) => {
        throw new Error(`${MAKE_CERTS} failed (is openssl installed?)`, { cause })
      },
    )
    /** @type {FederatedServer[]} */
    const pair = []
    const [nameA, nameB] = PAIR_SERVER_NAMES
    // Each server pins the other to its federation port, so both ports are chosen up front
    // (and must differ: the first is free again when the second is looked for).
    const portA = await freePort()
    let portB = await freePort()
    while (portB === portA) portB = await freePort()
    for (const [serverName, port, peer, peerPort, letter] of /** @type {const} */ ([
      [nameA, portA, nameB, portB, 'a'],
      [nameB, portB, nameA, portA, 'b'],
    ])) {
      const database = await createSiblingDatabase(databaseUrl, `${suffix}_${letter}`)
      databases.push(database)
      const server = await startHomeserver({
        parleyBin,
        databaseUrl: database.url,
        serverName,
        extraConfig: [
          '[federation]',
          `listen = ${tomlString(`127.0.0.1:${String(port)}`)}`,
          `tls_cert = ${tomlString(join(tlsDir, `${serverName}.crt`))}`,
          `tls_key = ${tomlString(join(tlsDir, `${serverName}.key`))}`,
          'allow_private_addresses = true',
          `pins = { ${tomlString(peer)} = [${tomlString(`127.0.0.1:${String(peerPort)}`)}] }`,
          `extra_ca_files = [${tomlString(join(tlsDir, 'ca.pem'))}]`,
          // The peer addresses us as name:port (the pinned port), so that is a name of ours.
          `also_known_as = [${tomlString(`${serverName}:${String(port)}`)}]`,
        ],
      })
      servers.push(server)
      pair.push({ serverName, server, databaseUrl: database.url })
    }
    const [a, b] = pair
    assert.ok(a && b)
    return { a, b, stop }
  } catch (error) {
    for (const server of servers) server.dumpLog()
    await stop()
    throw error
  }
}

// ---- the browser ------------------------------------------------------------------------

/**
 * @typedef {object} Browser
 * @property {import('playwright-core').BrowserContext} context
 * @property {import('playwright-core').Page} page
 * @property {string[]} problems console errors, uncaught exceptions and CSP violations
 */

/**
 * Chromium with a fresh profile in `profileDir`, and a page that reports everything that should
 * not happen. Refusals from the API (4xx answers, which Chromium logs as "Failed to load
 * resource") are outcomes the app handles and shows, not problems; the tests check what the
 * app made of them.
 * @param {string} profileDir
 * @param {{ viewport?: { width: number, height: number } }} [options]
 * @returns {Promise<Browser>}
 */
export async function launchBrowser(profileDir, options = {}) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: options.viewport ?? { width: 1280, height: 800 },
  })
  // Fail fast: everything here answers in well under a second.
  context.setDefaultTimeout(10_000)
  const problems = /** @type {string[]} */ ([])
  // Report CSP violations from inside the page too: not every one reaches the console.
  await context.exposeFunction('__parleyReportCspViolation', (/** @type {string} */ text) => {
    problems.push(`CSP violation: ${text}`)
  })
  // Runs in the page (injected by the browser, so the page's CSP does not apply to it).
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (event) => {
      window.__parleyReportCspViolation(
        event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline content'))
    })`,
  })
  const page = context.pages()[0] ?? (await context.newPage())
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const refusal =
      /^Failed to load resource: the server responded with a status of 4\d\d\b/.test(
        message.text(),
      ) &&
      new URL(message.location().url || 'about:blank', 'http://x/').pathname.startsWith('/api/v1/')
    if (!refusal) problems.push(`console error: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.message}`))
  return { context, page, problems }
}

// ---- mail -------------------------------------------------------------------------------

/**
 * @typedef {object} Mail
 * @property {string} file
 * @property {Record<string, string>} headers lower-case names, unfolded, encoded words decoded
 * @property {string} text the decoded text of its text/plain part(s)
 */

/**
 * The mail a server wrote to `<dataDir>/mailbox` for `to`, newest last, waiting (by polling,
 * with a deadline) until one matching `filter` is there.
 * @param {string} dataDir
 * @param {{ to: string, filter?: (mail: Mail) => boolean, deadlineMs?: number }} options
 * @returns {Promise<Mail>}
 */
export async function waitForMail(dataDir, { to, filter = () => true, deadlineMs = 20_000 }) {
  const dir = join(dataDir, 'mailbox')
  const until = Date.now() + deadlineMs
  for (;;) {
    const names = await readdir(dir).catch(() => /** @type {string[]} */ ([]))
    // `*.eml` only: the server writes `*.eml.tmp` first and renames it when complete.
    for (const name of names
      .filter((n) => n.endsWith('.eml'))
      .sort()
      .reverse()) {
      const mail = parseMail(name, await readFile(join(dir, name), 'latin1'))
      if (mail.headers.to?.includes(to) && filter(mail)) return mail
    }
    if (Date.now() > until) {
      throw new Error(`no mail to ${to} in ${dir} within ${String(deadlineMs / 1000)} s`)
    }
    await sleep(100)
  }
}

/**
 * The first link in `mail` to `route` (e.g. `/verify-email`), moved to `baseUrl`: the config's
 * public base URL is informational only; the server really listens on a port of its choosing.
 * @param {Mail} mail
 * @param {string} route
 * @param {string} baseUrl
 */
export function linkIn(mail, route, baseUrl) {
  const link = /https?:\/\/[^\s<>"'`]+/g
  for (const [found] of mail.text.matchAll(link)) {
    const url = new URL(found.replace(/[.,;:!?)\]]+$/, ''))
    if (url.pathname !== route) continue
    return new URL(`${url.pathname}${url.search}${url.hash}`, baseUrl).href
  }
  throw new Error(`no ${route} link in ${mail.file}:\n${mail.text}`)
}

/**
 * Parse a message in RFC 5322 / MIME form, far enough for what servers send: headers (folded,
 * RFC 2047 encoded words), 7bit/8bit/quoted-printable/base64 bodies, nested multiparts.
 * `raw` holds the bytes as latin1 (one char per byte).
 * @param {string} file
 * @param {string} raw
 * @returns {Mail}
 */
export function parseMail(file, raw) {
  const { headers, body } = splitEntity(raw)
  return { file, headers, text: textParts(headers, body).join('\n') }
}

/** @param {string} raw */
function splitEntity(raw) {
  const boundary = /\r?\n\r?\n/.exec(raw)
  const head = boundary ? raw.slice(0, boundary.index) : raw
  const body = boundary ? raw.slice(boundary.index + boundary[0].length) : ''
  /** @type {Record<string, string>} */
  const headers = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    headers[name] = decodeEncodedWords(line.slice(colon + 1).trim())
  }
  return { headers, body }
}

/**
 * @param {Record<string, string>} headers
 * @param {string} body
 * @returns {string[]}
 */
function textParts(headers, body) {
  const type = headers['content-type'] ?? 'text/plain'
  const multipart = /^multipart\/[^;]+;.*\bboundary="?([^";]+)"?/i.exec(type)
  if (multipart?.[1] !== undefined) {
    const delimiter = `--${multipart[1]}`
    return body
      .split(new RegExp(`\\r?\\n?${delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
      .slice(1) // before the first delimiter: the preamble
      .filter((part) => !part.startsWith('--')) // after the last: the epilogue
      .flatMap((part) => {
        const entity = splitEntity(part.replace(/^[ \t]*\r?\n/, ''))
        return textParts(entity.headers, entity.body)
      })
  }
  if (!/^text\/plain\b/i.test(type)) return []
  const charset = /\bcharset="?([^";]+)"?/i.exec(type)?.[1] ?? 'utf-8'
  const bytes = decodeTransfer(headers['content-transfer-encoding'] ?? '7bit', body)
  return [new TextDecoder(charset).decode(bytes)]
}

/**
 * @param {string} encoding
 * @param {string} body latin1
 * @returns {Buffer}
 */
function decodeTransfer(encoding, body) {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
    case 'quoted-printable':
      return Buffer.from(
        body
          .replace(/=\r?\n/g, '') // soft line breaks
          .replace(/=([0-9A-Fa-f]{2})/g, (_match, /** @type {string} */ hex) =>
            String.fromCharCode(parseInt(hex, 16)),
          ),
        'latin1',
      )
    default: // 7bit, 8bit, binary
      return Buffer.from(body, 'latin1')
  }
}

/**
 * A header's value: raw 8-bit bytes read as UTF-8 (what they are in practice), then RFC 2047
 * encoded words decoded, e.g. `=?utf-8?q?Caf=C3=A9?=` or `=?UTF-8?B?...?=`.
 * @param {string} value latin1
 */
function decodeEncodedWords(value) {
  return Buffer.from(value, 'latin1')
    .toString('utf8')
    .replace(/(\?=)\s+(=\?)/g, '$1$2') // white space between encoded words is not text
    .replace(
      /=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g,
      (
        /** @type {string} */ _match,
        /** @type {string} */ charset,
        /** @type {string} */ kind,
        /** @type {string} */ text,
      ) => {
        const bytes =
          kind.toLowerCase() === 'b'
            ? Buffer.from(text, 'base64')
            : decodeTransfer('quoted-printable', text.replaceAll('_', ' '))
        return new TextDecoder(charset).decode(bytes)
      },
    )
}

// ---- node:test ----------------------------------------------------------------------------

/**
 * A way to define tests that replay the log of the server `server()` returns when they fail.
 * @param {() => Homeserver | undefined} server
 * @returns {(name: string, fn: () => Promise<void>) => void}
 */
export function stepsWithServerLog(server) {
  return (name, fn) => {
    it(name, async () => {
      try {
        await fn()
      } catch (error) {
        server()?.dumpLog()
        throw error
      }
    })
  }
}

/**
 * @param {Browser | undefined} browser
 * @returns {import('playwright-core').Page}
 */
export function pageOf(browser) {
  assert.ok(browser, 'the browser did not start')
  return browser.page
}

/**
 * Fail if the page reported problems, and forget them (so one failure is reported once).
 * @param {Browser | undefined} browser
 */
export function assertNoPageProblems(browser) {
  const problems = browser?.problems.splice(0) ?? []
  assert.deepEqual(problems, [], 'the page reported errors or CSP violations')
}

// ---- accounts ---------------------------------------------------------------------------

/**
 * Signs up through the API and confirms the address with the mailed link.
 * @param {Homeserver} server
 * @param {{ username: string, email: string, fullName: string }} user
 * @param {string} password
 */
export async function signUpAndConfirm(server, user, password) {
  const at = (/** @type {string} */ path) => new URL(path, server.baseUrl).href
  const response = await fetch(at('api/v1/account/register'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      username: user.username,
      email: user.email,
      full_name: user.fullName,
      password,
    }),
  })
  assert.ok(response.ok, `sign-up of ${user.username}: HTTP ${String(response.status)}`)
  const mail = await waitForMail(server.dataDir, {
    to: user.email,
    filter: (candidate) => candidate.text.includes('/verify-email?token='),
  })
  const token = new URL(linkIn(mail, '/verify-email', server.baseUrl)).searchParams.get('token')
  assert.ok(token, 'no token in the link')
  const verified = await fetch(at('api/v1/account/verify-email'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  })
  assert.ok(verified.ok, `verification of ${user.username}: HTTP ${String(verified.status)}`)
}

/**
 * Signs in with the sign-in form and waits for the chats screen.
 * @param {Browser | undefined} browser
 * @param {string} baseUrl
 * @param {{ username: string }} user
 * @param {string} password
 */
export async function signInWithForm(browser, baseUrl, user, password) {
  const at = (/** @type {string} */ path) => new URL(path, baseUrl).href
  const page = pageOf(browser)
  await page.goto(at('sign-in'))
  const form = page.getByRole('form', { name: 'Sign in' })
  await form.getByLabel('Username or email').fill(user.username)
  await form.getByLabel('Password', { exact: true }).fill(password)
  await form.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(at('chats'))
  await page.getByRole('heading', { level: 1, name: 'Chats' }).waitFor()
}

/**
 * @typedef {object} ApiSession
 * @property {string} user_id
 * @property {string} device_id
 * @property {string} access_token
 * @property {(method: string, path: string, body?: unknown) => Promise<unknown>} call calls
 *   `/api/v1<path>` with the session's token; fails unless the answer is 2xx
 */

/**
 * Signs in through the API (no browser).
 * @param {Homeserver} server
 * @param {string} identifier a username, user id or email
 * @param {string} password
 * @returns {Promise<ApiSession>}
 */
export async function signInWithApi(server, identifier, password) {
  const at = (/** @type {string} */ path) => new URL(path, server.baseUrl).href
  const response = await fetch(at('api/v1/auth/login'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ identifier, password }),
  })
  assert.ok(response.ok, `sign-in of ${identifier}: HTTP ${String(response.status)}`)
  const session = /** @type {{ user_id: string, device_id: string, access_token: string }} */ (
    await response.json()
  )
  /** @type {ApiSession['call']} */
  const call = async (method, path, body) => {
    const answer = await fetch(at(`api/v1${path}`), {
      method,
      headers: {
        Authorization: `Bearer ${session.access_token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await answer.text()
    assert.ok(answer.ok, `${method} ${path}: HTTP ${String(answer.status)} ${text}`)
    return text === '' ? {} : /** @type {unknown} */ (JSON.parse(text))
  }
  return { ...session, call }
}

// ---- what the server stores ---------------------------------------------------------------

/**
 * Checks that the database holds the sent messages as ciphertext only: exactly `encrypted`
 * message events, all `m.room.encrypted`, and none of `secrets` anywhere in a data-only dump of
 * the whole database (events, to-device messages, keys...).
 * @param {string} databaseUrl
 * @param {number} encrypted
 * @param {readonly string[]} secrets
 */
export async function assertCiphertextOnly(databaseUrl, encrypted, secrets) {
  const { stdout: types } = await execFileAsync('psql', [
    databaseUrl,
    '-Atc',
    "select type, count(*) from event where type not like 'parley.room.%' group by type",
  ])
  assert.equal(types.trim(), `m.room.encrypted|${String(encrypted)}`)
  const { stdout: dump } = await execFileAsync('pg_dump', ['--data-only', databaseUrl], {
    maxBuffer: 256 * 1024 * 1024,
  })
  assert.ok(dump.includes('m.megolm.v1.aes-sha2'), 'the dump has no encrypted events')
  for (const secret of secrets) {
    assert.ok(!dump.includes(secret), `"${secret}" is in the database in plaintext`)
  }
}
