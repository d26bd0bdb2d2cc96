/**
 * The package as a new user gets it: `npm pack`, installed into fresh apps, compiled under `strict`
 * without `skipLibCheck` or extra @types for nodenext, node16 and bundler resolution, required from
 * CommonJS, and run against an older Fastify 5 minor, on the oldest Node.js major its `engines` allow;
 * the README's TypeScript samples and a worker's use of the emitter are compiled there too. Also: every relative link of its documents
 * leads to a file it ships, and what it installs on top of Fastify. Needs the registry (or npm's
 * cache): outside CI, skipped with a message when npm cannot install.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

/** The quick start, with a round trip through the package's Node.js client; prints what it got. */
const QUICK_START = `import Fastify from 'fastify'
import actionheroWs, { defineAction } from 'fastify-actionhero-ws'
import { ActionheroClient } from 'fastify-actionhero-ws/client'

const app = Fastify()
await app.register(actionheroWs, {
  rooms: ['defaultRoom'],
  actions: [defineAction({
    name: 'add',
    inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    run: async ({ a, b }) => ({ sum: a + b })
  })]
})
app.get('/me', async (request) => ({ fingerprint: request.fingerprint }))
const url = await app.listen({ port: 0, host: '127.0.0.1' })
const client = new ActionheroClient({ url })
await client.connect()
await client.roomAdd('defaultRoom')
const { sum } = await client.action('add', { a: 1, b: 2 })
const script = await app.inject('/public/javascript/actionheroClient.min.js')
const fingerprint: string | null = app.actionheroWs.connections.get(client.id ?? '')?.fingerprint ?? null
client.disconnect()
await app.close()
console.log(JSON.stringify({ sum, script: script.statusCode, fingerprint }))
`

const REQUIRE = `const Fastify = require('fastify')
const { default: actionheroWs, defineAction } = require('fastify-actionhero-ws')
const { ActionheroClient } = require('fastify-actionhero-ws/client')

async function main () {
  const app = Fastify()
  await app.register(actionheroWs, { actions: [defineAction({ name: 'add', run: () => ({ sum: 3 }) })] })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const client = new ActionheroClient({ url })
  await client.connect()
  const { sum } = await client.action('add')
  client.disconnect()
  await app.close()
  console.log(JSON.stringify({ sum }))
}
main()
`

/**
 * A queue worker's code: the emitter, with neither Fastify nor the server in it (compiled only: it
 * needs a Redis; test/emitter.test.ts runs one).
 */
const WORKER = `import { createEmitter, type ConnectionTarget, type Emitter } from 'fastify-actionhero-ws/emitter'

const emitter: Emitter = createEmitter({ redis: { url: 'redis://127.0.0.1:6379', prefix: 'app:' }, history: { size: 50 } })

export async function jobDone (fingerprint: string, connectionId: string): Promise<number> {
  await emitter.say('defaultRoom', { job: 42, state: 'done' }, 'worker')
  await emitter.broadcast('defaultRoom', 'maintenance at noon')
  const tabs: number = await emitter.sendToFingerprint(fingerprint, { context: 'job', id: 42 })
  const everywhere: ConnectionTarget = { fingerprint }
  await emitter.disconnect(everywhere, { reason: 'signed out', reconnect: false })
  await emitter.disconnect(connectionId)
  await emitter.reauthorize(connectionId)
  const sent: boolean = await emitter.send(connectionId, { context: 'alert', text: 'hi' })
  const { membersCount } = await emitter.roomView('defaultRoom')
  await emitter.close()
  return tabs + membersCount + (sent ? 1 : 0)
}
`

/** A page's code, bundled for a browser: the client's types need nothing of Node.js or of the server. */
const BROWSER = `import { ActionheroClient, ERRORS, type ChatMessage } from 'fastify-actionhero-ws/client'

const client = new ActionheroClient({ url: window.location.origin })
client.on('say', (message: ChatMessage) => { document.title = String(message.message) })
const reply = await client.action('add', { a: 1, b: 2 })
if (reply.error === ERRORS.unknownAction) document.title = 'no add'
`
const BROWSER_CONFIG = JSON.stringify({
  compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, types: [], lib: ['es2023', 'dom'], target: 'es2022', module: 'esnext', moduleResolution: 'bundler' },
  files: ['browser.ts']
})

/** What the README's samples may use without defining it. */
const APP_MODULE = `import Fastify, { type FastifyInstance } from 'fastify'
import actionheroWs, { defineAction } from 'fastify-actionhero-ws'

export async function buildApp (): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(actionheroWs, {
    actions: [defineAction({ name: 'add', inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] }, run: ({ a, b }) => ({ sum: a + b }) })]
  })
  return app
}
`
const SAMPLE_PREAMBLE = `import Fastify from 'fastify'
import actionheroWs, { defineAction } from 'fastify-actionhero-ws'
const app = Fastify()
await app.register(actionheroWs)
void defineAction
`
/** The sections, by document, whose TypeScript samples are compiled here: the README's and its guides'. */
const SAMPLE_SECTIONS: Readonly<Record<string, readonly string[]>> = {
  'README.md': ['Usage', 'TypeScript'],
  'docs/SECURITY.md': ['The gate', 'Fingerprint', 'Security and limits'],
  'docs/OPERATING.md': ['Testing your app']
}

const STRICT = { strict: true, skipLibCheck: false, noEmitOnError: true, types: ['node'], target: 'es2022', lib: ['es2023'] }
const SETUPS = {
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' }
} as const

async function sh (cwd: string, command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } })
    return stdout
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string, stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`)
  }
}

/** What the TypeScript apps install besides the tarball and Fastify. */
/** The newest Node.js line the quick starts also run on, besides the oldest that `engines` allows. */
const NEWEST_NODE = 24

const TYPESCRIPT_APP = ['typescript@~5.9', '@types/node@^22', '@fastify/cookie@^11', '@fastify/session@^11']

/** A fresh app folder with `packages` installed; null when npm cannot install (offline). */
async function freshApp (t: TestContext, packages: string[]): Promise<string | null> {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-consumer-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  await writeFile(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  try {
    await sh(folder, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...packages])
  } catch (error) {
    if (process.env.CI) throw error
    t.diagnostic(`npm could not install: ${(error as Error).message.slice(0, 500)}`)
    return null
  }
  return folder
}

/** The installed packages of an app (every folder with a package.json under node_modules) and their bytes. */
async function installed (folder: string): Promise<{ packages: Set<string>, bytes: number }> {
  const packages = new Set<string>()
  let bytes = 0
  async function walk (path: string, relative: string): Promise<void> {
    const entries = await readdir(path, { withFileTypes: true })
    if (/(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(relative) && entries.some((entry) => entry.name === 'package.json')) packages.add(relative)
    for (const entry of entries) {
      const child = join(path, entry.name)
      if (entry.isDirectory()) await walk(child, relative === '' ? entry.name : `${relative}/${entry.name}`)
      else if (entry.isFile() && entry.name !== '.package-lock.json') bytes += (await lstat(child)).size
    }
  }
  await walk(join(folder, 'node_modules'), 'node_modules')
  return { packages, bytes }
}

/** The relative links (`](path)`, `src="path"`) of a markdown file's text (not its code), without their #anchors. */
function relativeLinks (markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '')
  const links = [...text.matchAll(/\]\(([^)\s]+)\)|src="([^"]+)"/g)].map(([, link, src]) => (link ?? src ?? '').split('#')[0] ?? '')
  return links.filter((link) => link !== '' && !link.startsWith('/') && !/^[a-z]+:/i.test(link))
}

/** The lowest major of Node.js that `engines.node` (`>=M.m`) allows, as npm's `node` package has it. */
function enginesMajor (range: string): number {
  const match = /^>=\s*(\d+)/.exec(range)
  assert.ok(match?.[1] !== undefined, `engines.node is ">=x.y": ${range}`)
  return Number(match[1])
}

function tsconfig (setup: keyof typeof SETUPS, files: string[]): string {
  return JSON.stringify({ compilerOptions: { ...STRICT, ...SETUPS[setup], outDir: `out-${setup}` }, files })
}

/** The ```ts blocks of a document's `sections`. */
function samplesOf (markdown: string, sections: readonly string[]): string[] {
  const samples: string[] = []
  for (const section of markdown.split(/^## /m)) {
    const title = section.slice(0, section.indexOf('\n'))
    if (!sections.includes(title)) continue
    for (const [, code] of section.matchAll(/```ts\n([\s\S]*?)```/g)) if (code !== undefined) samples.push(code)
  }
  return samples
}

/** What the plugin may install on top of Fastify before this test fails: today's weight and a little. */
const WEIGHT_CEILING = { packages: 64, megabytes: 13 }

test('the packed package installs, compiles and runs in fresh apps, and its README samples compile', { timeout: 240_000 }, async (t) => {
  const started = Date.now()
  const packed = await mkdtemp(join(tmpdir(), 'ahws-pack-'))
  t.after(() => rm(packed, { recursive: true, force: true }))
  // npm test built dist/ already.
  const [pack] = JSON.parse(await sh(root, 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packed])) as Array<{ filename: string, files: Array<{ path: string }> }>
  assert.ok(pack !== undefined, 'npm pack made a tarball')
  const tarball = join(packed, pack.filename)

  // Every relative link of a document it ships leads to a file it ships: the README read from
  // node_modules or from the tarball has no dead links.
  const shipped = new Set(pack.files.map(({ path }) => path))
  for (const document of [...shipped].filter((path) => path.endsWith('.md'))) {
    for (const link of relativeLinks(await readFile(join(root, document), 'utf8'))) {
      const target = posix.normalize(posix.join(posix.dirname(document), decodeURI(link)))
      assert.ok(shipped.has(target), `${document} links to ${link}, which the package does not ship`)
    }
  }

  const { engines } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }
  const major = enginesMajor(engines.node)
  const [current, older, bare, plain, runtime, newest] = await Promise.all([
    freshApp(t, [tarball, 'fastify@^5', ...TYPESCRIPT_APP]),
    freshApp(t, [tarball, 'fastify@5.6.x', ...TYPESCRIPT_APP]),
    freshApp(t, ['fastify@^5']),
    freshApp(t, [tarball, 'fastify@^5']),
    // npm's `node` package: the runtime the apps run on, the oldest major `engines` allows.
    freshApp(t, [`node@${major}`]),
    // and the current line, which production moves to next.
    freshApp(t, [`node@${NEWEST_NODE}`])
  ])
  if (current === null || older === null || bare === null || plain === null || runtime === null || newest === null) {
    t.skip('npm cannot install from the registry or its cache here')
    return
  }
  const node = join(runtime, 'node_modules', '.bin', 'node')
  const version = (await sh(runtime, node, ['--version'])).trim()
  const [wantedMajor, wantedMinor] = engines.node.replace(/^>=\s*/, '').split('.').map(Number)
  const [gotMajor, gotMinor] = version.slice(1).split('.').map(Number)
  assert.ok(gotMajor === wantedMajor && (gotMinor ?? 0) >= (wantedMinor ?? 0), `Node.js ${version} satisfies engines ${engines.node}`)
  const node24 = join(newest, 'node_modules', '.bin', 'node')
  const version24 = (await sh(newest, node24, ['--version'])).trim()
  assert.ok(version24.startsWith(`v${NEWEST_NODE}.`), `Node.js ${version24} is ${NEWEST_NODE}`)

  // One Fastify: the app's own, whatever its minor.
  for (const folder of [current, older]) {
    const tree = JSON.parse(await sh(folder, 'npm', ['ls', 'fastify', '--all', '--json'])) as { dependencies: Record<string, { dependencies?: object }> }
    assert.equal(tree.dependencies['fastify-actionhero-ws']?.dependencies, undefined, 'the plugin brings no Fastify of its own')
  }

  // What it installs on top of Fastify: not its optional peers, and no more than it did.
  const [withoutPlugin, withPlugin] = await Promise.all([installed(bare), installed(plain)])
  const added = [...withPlugin.packages].filter((path) => !withoutPlugin.packages.has(path))
  const megabytes = (withPlugin.bytes - withoutPlugin.bytes) / 1e6
  t.diagnostic(`on top of Fastify: ${added.length} packages, ${megabytes.toFixed(1)} MB: ${added.map((path) => path.replace(/^.*node_modules\//, '')).join(' ')}`)
  for (const peer of ['ioredis', 'terser']) assert.ok(!added.some((path) => path.endsWith(`node_modules/${peer}`)), `${peer} is not installed`)
  assert.ok(added.length <= WEIGHT_CEILING.packages && megabytes <= WEIGHT_CEILING.megabytes,
    `${added.length} packages and ${megabytes.toFixed(1)} MB on top of Fastify, more than ${WEIGHT_CEILING.packages} and ${WEIGHT_CEILING.megabytes} MB`)

  const samples: string[] = []
  for (const [document, sections] of Object.entries(SAMPLE_SECTIONS)) samples.push(...samplesOf(await readFile(join(root, document), 'utf8'), sections))
  assert.ok(samples.length >= 4, `README and guide samples found: ${samples.length}`)
  const sampleFiles: string[] = []
  for (const [index, sample] of samples.entries()) {
    const file = `readme-${index + 1}.ts`
    await writeFile(join(current, file), /^\s*import /m.test(sample) ? sample : `${SAMPLE_PREAMBLE}${sample}`)
    sampleFiles.push(file)
  }
  await writeFile(join(current, 'app.ts'), APP_MODULE)
  await writeFile(join(current, 'quick-start.ts'), QUICK_START)
  await writeFile(join(current, 'require.cjs'), REQUIRE)
  await writeFile(join(current, 'worker.ts'), WORKER)
  await writeFile(join(current, 'browser.ts'), BROWSER)
  await writeFile(join(current, 'tsconfig.browser.json'), BROWSER_CONFIG)
  await writeFile(join(older, 'quick-start.ts'), QUICK_START)

  const compiled = await Promise.all([
    ...Object.keys(SETUPS).map(async (setup) => {
      const name = setup as keyof typeof SETUPS
      const files = name === 'nodenext' ? ['quick-start.ts', 'app.ts', 'worker.ts', ...sampleFiles] : ['quick-start.ts', 'worker.ts']
      await writeFile(join(current, `tsconfig.${name}.json`), tsconfig(name, files))
      await sh(current, 'npx', ['tsc', '-p', `tsconfig.${name}.json`])
      return join(current, `out-${name}`, 'quick-start.js')
    }),
    (async () => {
      await sh(current, 'npx', ['tsc', '-p', 'tsconfig.browser.json'])
      return null
    })(),
    (async () => {
      await writeFile(join(older, 'tsconfig.nodenext.json'), tsconfig('nodenext', ['quick-start.ts']))
      await sh(older, 'npx', ['tsc', '-p', 'tsconfig.nodenext.json'])
      return join(older, 'out-nodenext', 'quick-start.js')
    })()
  ])
  for (const runtimeNode of [node, node24]) {
    for (const output of compiled) {
      if (output === null) continue
      assert.deepEqual(JSON.parse(await sh(root, runtimeNode, [output])), { sum: 3, script: 200, fingerprint: null }, `${output} on ${runtimeNode}`)
    }
    assert.deepEqual(JSON.parse(await sh(current, runtimeNode, ['require.cjs'])), { sum: 3 })
  }
  t.diagnostic(`packed, installed five times, compiled five times and run five times on Node.js ${version} and on ${version24} in ${Date.now() - started} ms`)
})
