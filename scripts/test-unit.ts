/**
 * `npm run test:unit`: every test/*.test.ts, one file after another, in this one process (node:test's
 * `isolation: 'none'`, through its API: the command-line flag is spelled differently in Node.js 22 and
 * 24). A process per file cost about 2 s each, tsx compiling the plugin again for every file: a fifth of
 * the suite. Run with `node --import tsx`; the output is TAP, as `node --test` writes it.
 */
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { run } from 'node:test'
import { tap } from 'node:test/reporters'

const TEST_DIR = join(import.meta.dirname, '..', 'test')
/** A test that takes longer fails, as `--test-timeout` made it. */
const TEST_TIMEOUT = 120_000

// Some files only, when named (`npm run test:unit -- test/rooms.test.ts`).
const named = process.argv.slice(2).map((file) => resolve(file))
const files = named.length > 0 ? named : readdirSync(TEST_DIR).filter((name) => name.endsWith('.test.ts')).sort().map((name) => join(TEST_DIR, name))
// `isolation` is in node:test since Node.js 22.8, newer than the typings here.
const options: Parameters<typeof run>[0] & { isolation: 'none' } = { files, isolation: 'none', concurrency: false, timeout: TEST_TIMEOUT }
const stream = run(options)
stream.on('test:fail', () => { process.exitCode = 1 })
const output = stream.compose(tap)
output.pipe(process.stdout)
// A handle a test left open must not keep the run (and CI) waiting: once every file has run, it ends.
output.on('end', () => { process.exit() })
