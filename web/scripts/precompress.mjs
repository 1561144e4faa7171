#!/usr/bin/env node
// Write gzip and brotli siblings (`x.js.gz`, `x.js.br`) next to every compressible file in
// dist/, so the homeserver can serve pre-compressed bytes instead of compressing per request.
//
// Usage: node scripts/precompress.mjs [dir]   (default: the dist/ next to this script's parent)

import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { extname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'

const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg', '.wasm', '.json', '.txt', '.map'])
/** Smaller files gain too little to be worth an extra file and a lookup. */
const MIN_SIZE = 1024

const gzipAsync = promisify(gzip)
const brotliAsync = promisify(brotliCompress)

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('../dist', import.meta.url)))

/**
 * Every regular file below `dir`, recursively.
 * @param {string} dir
 * @returns {AsyncGenerator<string>}
 */
async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else if (entry.isFile()) yield path
  }
}

/**
 * @param {string} path
 * @returns {Promise<{ path: string, size: number, gz: number, br: number }>}
 */
async function compress(path) {
  const data = await readFile(path)
  const [gz, br] = await Promise.all([
    gzipAsync(data, { level: constants.Z_BEST_COMPRESSION }),
    brotliAsync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_MODE]:
          extname(path) === '.wasm' ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  ])
  await Promise.all([writeFile(`${path}.gz`, gz), writeFile(`${path}.br`, br)])
  return { path, size: data.length, gz: gz.length, br: br.length }
}

async function main() {
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory')
  } catch (error) {
    throw new Error(`precompress: cannot read ${root} (run vite build first?)`, { cause: error })
  }

  /** @type {Promise<{ path: string, size: number, gz: number, br: number }>[]} */
  const jobs = []
  for await (const path of walk(root)) {
    if (!COMPRESSIBLE.has(extname(path))) continue // also skips existing .gz/.br files
    if ((await stat(path)).size <= MIN_SIZE) continue
    jobs.push(compress(path))
  }
  const results = await Promise.all(jobs)

  const kib = (/** @type {number} */ bytes) => `${(bytes / 1024).toFixed(1)} KiB`
  for (const { path, size, gz, br } of results.sort((a, b) => a.path.localeCompare(b.path))) {
    console.log(`${relative(root, path)}: ${kib(size)} -> gzip ${kib(gz)}, brotli ${kib(br)}`)
  }
  console.log(`precompress: ${String(results.length)} file(s) compressed in ${root}`)
}

await main()
