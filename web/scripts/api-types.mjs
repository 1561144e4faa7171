#!/usr/bin/env node
// TypeScript types for the client API, generated from the OpenAPI document that the Rust code
// produces (docs/openapi.json), formatted with the project's Prettier settings so that the same
// document always gives the same file.
//
//   node scripts/api-types.mjs           write src/lib/api/schema.d.ts   (npm run gen:api)
//   node scripts/api-types.mjs --check   fail if that file is not what the document gives
//                                        (npm run check:api; part of npm test)

import { readFile, writeFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'
import * as prettier from 'prettier'

const DOCUMENT = new URL('../../docs/openapi.json', import.meta.url)
const OUTPUT = fileURLToPath(new URL('../src/lib/api/schema.d.ts', import.meta.url))
const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url))

const BANNER = `${COMMENT_HEADER.trimEnd()}
// Source: docs/openapi.json. Regenerate with \`npm run gen:api\`; \`npm run check:api\` fails when
// this file is stale.

`

/** The generated file's content for the document as it is now. */
async function generate() {
  /** @type {import('openapi-typescript').OpenAPI3} */
  let document
  try {
    const parsed = /** @type {unknown} */ (JSON.parse(await readFile(DOCUMENT, 'utf8')))
    document = /** @type {import('openapi-typescript').OpenAPI3} */ (parsed)
  } catch (cause) {
    throw new Error(`cannot read the OpenAPI document ${fileURLToPath(DOCUMENT)}`, { cause })
  }
  // Sorted keys: the output depends on the document's content, not on the order it lists it in.
  const ast = await openapiTS(document, { alphabetize: true, silent: true })
  const source = BANNER + astToString(ast)
  const options = (await prettier.resolveConfig(OUTPUT)) ?? {}
  return prettier.format(source, { ...options, filepath: OUTPUT })
}

async function main() {
  const check = process.argv.includes('--check')
  const generated = await generate()
  const shown = relative(WEB_ROOT, OUTPUT)

  if (!check) {
    await writeFile(OUTPUT, generated)
    console.log(`api-types: wrote ${shown}`)
    return
  }

  const committed = await readFile(OUTPUT, 'utf8').catch(() => undefined)
  if (committed === generated) {
    console.log(`api-types: ${shown} matches docs/openapi.json`)
    return
  }
  const why =
    committed === undefined
      ? `${shown} does not exist`
      : `${shown} is out of date: docs/openapi.json has changed since it was generated`
  console.error(`api-types: ${why}.\nRun \`npm run gen:api\` in web/ and commit the result.`)
  if (committed !== undefined) {
    const before = committed.split('\n')
    const after = generated.split('\n')
    const line = before.findIndex((text, i) => text !== after[i])
    const at = line === -1 ? Math.min(before.length, after.length) : line
    console.error(`First difference at line ${String(at + 1)}:`)
    console.error(`  committed: ${before[at] ?? '(end of file)'}`)
    console.error(`  generated: ${after[at] ?? '(end of file)'}`)
  }
  process.exitCode = 1
}

await main()
