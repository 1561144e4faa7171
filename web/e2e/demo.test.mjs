// Two organisations federating as in the local demo, through real homeservers and no browser:
// a user on each server, each with device keys, and each server answering for its users to the
// other over loopback TLS with certificates from deploy/demo/make-certs. Then scripts/demo itself,
// with the binary under test instead of a release build.
//
// Runs on its own databases, made next to E2E_DATABASE_URL's (`<name>_demo_a`, `<name>_demo_b`).
//
//   E2E_PARLEY_BIN=../target/debug/parley E2E_DATABASE_URL=postgres://... node --test e2e/demo.test.mjs

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { access, chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

import {
  freePort,
  requireInputs,
  SHUTDOWN_DEADLINE_MS,
  signInWithApi,
  signUpAndConfirm,
  startFederatedPair,
  withDeadline,
} from './support.mjs'

const PASSWORD = 'two organisations, one conversation'
const DEMO_SCRIPT = fileURLToPath(new URL('../../scripts/demo', import.meta.url))

/** Unpadded standard base64, as key objects spell keys and signatures. */
const base64 = (/** @type {Buffer | string} */ bytes) =>
  Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes, 'base64url') : bytes)
    .toString('base64')
    .replace(/=+$/, '')

/**
 * Canonical JSON (sorted keys, no white space) of plain JSON values: what signatures cover.
 * @param {unknown} value
 * @returns {string}
 */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/**
 * Device keys and one one-time key for a signed-in device, signed with a fresh ed25519 key as a
 * real client's would be.
 * @param {{ user_id: string, device_id: string }} session
 */
function deviceKeys(session) {
  const { user_id: userId, device_id: deviceId } = session
  const signing = generateKeyPairSync('ed25519')
  const curve = () => {
    const jwk = createPublicKey(generateKeyPairSync('x25519').privateKey).export({ format: 'jwk' })
    assert.ok(jwk.x)
    return base64(jwk.x)
  }
  const publicJwk = signing.publicKey.export({ format: 'jwk' })
  assert.ok(publicJwk.x)
  /** @param {Record<string, unknown>} object */
  const signed = (object) => ({
    ...object,
    signatures: {
      [userId]: {
        [`ed25519:${deviceId}`]: base64(
          sign(null, Buffer.from(canonical(object)), signing.privateKey),
        ),
      },
    },
  })
  const keys = {
    [`curve25519:${deviceId}`]: curve(),
    [`ed25519:${deviceId}`]: base64(publicJwk.x),
  }
  const device_keys = signed({
    user_id: userId,
    device_id: deviceId,
    algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    keys,
  })
  const oneTimeKey = curve()
  return {
    keys,
    oneTimeKey,
    upload: {
      device_keys,
      one_time_keys: { 'signed_curve25519:AAAAAQ': signed({ key: oneTimeKey }) },
    },
  }
}

/**
 * @typedef {{
 *   device_keys?: Record<string, Record<string, { keys?: Record<string, string> }>>,
 *   failures?: Record<string, unknown>,
 * }} QueryAnswer
 * @typedef {{
 *   one_time_keys?: Record<string, Record<string, Record<string, { key?: string }>>>,
 *   failures?: Record<string, unknown>,
 * }} ClaimAnswer
 */

describe('two organisations federating as in the demo', { timeout: 240_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startFederatedPair>> | undefined} */
  let pair

  before(async () => {
    const { parleyBin, databaseUrl } = await requireInputs()
    pair = await startFederatedPair({ parleyBin, databaseUrl, suffix: 'demo' })
  })

  after(async () => {
    await pair?.stop()
  })

  it('lets a user on each server find and claim the other one’s keys', async () => {
    assert.ok(pair, 'the servers did not start')
    const { a, b } = pair
    try {
      await signUpAndConfirm(
        a.server,
        { username: 'ann', email: 'ann@org-a.example', fullName: 'Ann of org-a' },
        PASSWORD,
      )
      await signUpAndConfirm(
        b.server,
        { username: 'bob', email: 'bob@org-b.example', fullName: 'Bob of org-b' },
        PASSWORD,
      )
      const ann = await signInWithApi(a.server, 'ann', PASSWORD)
      const bob = await signInWithApi(b.server, 'bob', PASSWORD)
      assert.equal(ann.user_id, `@ann:${a.serverName}`)
      assert.equal(bob.user_id, `@bob:${b.serverName}`)
      const annKeys = deviceKeys(ann)
      const bobKeys = deviceKeys(bob)
      await ann.call('POST', '/keys/upload', annKeys.upload)
      await bob.call('POST', '/keys/upload', bobKeys.upload)

      // Each server has only its own users' keys: what the other user sees came over
      // federation.
      for (const { asker, owner, ownerKeys, ownerServer } of [
        { asker: ann, owner: bob, ownerKeys: bobKeys, ownerServer: b.serverName },
        { asker: bob, owner: ann, ownerKeys: annKeys, ownerServer: a.serverName },
      ]) {
        const answer = /** @type {QueryAnswer} */ (
          await asker.call('POST', '/keys/query', { device_keys: { [owner.user_id]: [] } })
        )
        assert.deepEqual(answer.failures ?? {}, {}, `${asker.user_id} asking ${ownerServer}`)
        assert.deepEqual(
          answer.device_keys?.[owner.user_id]?.[owner.device_id]?.keys,
          ownerKeys.keys,
          `${asker.user_id} sees the device keys of ${owner.user_id}`,
        )
      }

      const claimed = /** @type {ClaimAnswer} */ (
        await ann.call('POST', '/keys/claim', {
          one_time_keys: { [bob.user_id]: { [bob.device_id]: 'signed_curve25519' } },
        })
      )
      assert.deepEqual(claimed.failures ?? {}, {})
      assert.equal(
        claimed.one_time_keys?.[bob.user_id]?.[bob.device_id]?.['signed_curve25519:AAAAAQ']?.key,
        bobKeys.oneTimeKey,
      )
    } catch (error) {
      a.server.dumpLog()
      b.server.dumpLog()
      throw error
    }
  })
})

describe('scripts/demo', { timeout: 240_000 }, () => {
  /** @type {string | undefined} */
  let state
  /** @type {import('node:child_process').ChildProcess | undefined} */
  let demo
  /** @type {string[]} */
  const output = []

  after(async () => {
    if (demo?.pid !== undefined && demo.exitCode === null && demo.signalCode === null) {
      const exited = new Promise((resolve) => demo?.once('exit', resolve))
      demo.kill('SIGINT')
      await withDeadline(exited, SHUTDOWN_DEADLINE_MS, 'waiting for scripts/demo to stop')
    }
    if (state) await rm(state, { recursive: true, force: true })
  })

  it('starts two federating organisations and stops them on SIGINT', async () => {
    const { parleyBin } = await requireInputs()
    state = await mkdtemp(join(tmpdir(), 'parley-demo-'))
    // As root the cluster runs as another user, who must be able to enter the folder.
    await chmod(state, 0o755)
    /** @type {number[]} */
    const ports = []
    // A port is free again once freePort has looked at it, so the same one may come twice.
    while (ports.length < 4) {
      const port = await freePort()
      if (!ports.includes(port)) ports.push(port)
    }
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('PARLEY_')),
    )
    const child = spawn(
      DEMO_SCRIPT,
      ['--binary', parleyBin, '--state', state, '--ports', ports.join(',')],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    demo = child
    /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} */
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve({ code, signal })
      })
      // Failed to spawn at all: there will be no 'exit' event.
      child.once('error', () => {
        resolve({ code: null, signal: null })
      })
    })
    createInterface({ input: child.stdout }).on('line', (line) => output.push(line))
    /** @type {Promise<void>} */
    const ready = new Promise((resolve, reject) => {
      createInterface({ input: child.stderr }).on('line', (line) => {
        output.push(line)
        if (line.startsWith('Ctrl-C stops both servers')) resolve()
      })
      child.once('error', reject)
      child.once('exit', (code) => {
        reject(new Error(`scripts/demo exited before it was ready (code ${String(code)})`))
      })
    })
    try {
      await withDeadline(ready, 120_000, 'waiting for scripts/demo to print its how-to')
      const text = output.join('\n')
      const orgA = `http://127.0.0.1:${String(ports[0])}/`
      const orgB = `http://localhost:${String(ports[1])}/`
      assert.ok(text.includes(orgA) && text.includes(orgB), 'both URLs are printed')
      assert.ok(text.includes(join(state, 'org-a/data/mailbox')), 'the mailbox is printed')

      // ann on org-a asks org-b (over federation) for a user it does not have: an empty
      // answer without failures means org-a reached org-b and trusted its certificate.
      const server = /** @type {import('./support.mjs').Homeserver} */ (
        /** @type {unknown} */ ({ baseUrl: orgA, dataDir: join(state, 'org-a/data') })
      )
      await signUpAndConfirm(
        server,
        { username: 'ann', email: 'ann@org-a.example', fullName: 'Ann of org-a' },
        PASSWORD,
      )
      const ann = await signInWithApi(server, 'ann', PASSWORD)
      const answer = /** @type {QueryAnswer} */ (
        await ann.call('POST', '/keys/query', { device_keys: { '@nobody:org-b.localhost': [] } })
      )
      assert.deepEqual(answer.failures ?? {}, {})
      assert.equal((await fetch(new URL('health', orgB))).status, 200)

      child.kill('SIGINT')
      const { code } = await withDeadline(exited, SHUTDOWN_DEADLINE_MS, 'waiting for the demo')
      assert.equal(code, 130)
      await assert.rejects(fetch(new URL('health', orgA)), 'org-a is stopped')
      await assert.rejects(fetch(new URL('health', orgB)), 'org-b is stopped')
      await assert.rejects(access(join(state, 'pg/data/postmaster.pid')), 'PostgreSQL is stopped')
      // Made once and kept for the next run.
      assert.ok((await readFile(join(state, 'tls/ca.pem'), 'utf8')).includes('CERTIFICATE'))
    } catch (error) {
      process.stderr.write(`\n----- scripts/demo output -----\n${output.join('\n')}\n-----\n`)
      throw error
    }
  })
})
