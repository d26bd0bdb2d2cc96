/**
 * What one idle connection costs a server, and what in it: `npm run bench:memory` (or, built,
 * `node dist/bench/connection-memory.js [connections] [targets...]`). For each target (bare Primus
 * with the plugin's options, then the plugin), in fresh processes, it opens the connections and
 * reports RSS and heap after a full GC per connection, then takes a heap snapshot before and after
 * (the server's `--heapsnapshot-signal`) and lists, per connection, what was added by constructor:
 * objects and their self size. The last table is the plugin's over Primus's: what the plugin adds on
 * top of Primus's spark and ws's socket.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLIENTS } from './clients/index.js'
import type { TargetName } from './config.js'
import { connectMany } from './load/scenario.js'
import { sleep, within } from './load/time.js'
import type { ServerMemory, ServerMessage, ServerRequest } from './servers/child.js'

const DEFAULT_CONNECTIONS = 10_000
const START_TIMEOUT = 15_000
/** A snapshot of a large heap takes seconds on a busy machine; the server answers once it is written. */
const ANSWER_TIMEOUT = 120_000
const SETTLE_TIMEOUT = 20_000
const KB = 1024
const TOP = 15

/** Per connection, by `type:constructor`: objects added and bytes they take themselves. */
type Census = Map<string, { count: number, bytes: number }>

interface Measured {
  rssKB: number
  heapKB: number
  census: Census
}

/** One server child, run with --expose-gc and a snapshot signal, in a folder of its own. */
class Server {
  readonly #child: ChildProcess
  readonly #dir: string
  readonly port: number
  #nextId = 0

  private constructor (child: ChildProcess, dir: string, port: number) {
    this.#child = child
    this.#dir = dir
    this.port = port
  }

  static async start (target: TargetName): Promise<Server> {
    const dir = await mkdtemp(join(tmpdir(), 'connection-memory-'))
    const child = fork(new URL(`servers/${target}.js`, import.meta.url), {
      cwd: dir,
      execArgv: ['--expose-gc', '--heapsnapshot-signal=SIGUSR2'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    const port = await within(START_TIMEOUT, `starting ${target}`, new Promise<number>((resolve, reject) => {
      child.on('message', (message: ServerMessage) => { if ('type' in message) resolve(message.port) })
      child.once('exit', (code) => reject(new Error(`${target} exited with code ${code}`)))
    }))
    return new Server(child, dir, port)
  }

  async memory (): Promise<ServerMemory> {
    const id = this.#nextId++
    const answer = new Promise<ServerMemory>((resolve) => {
      const listen = (message: ServerMessage): void => {
        if ('id' in message && message.id === id && 'memory' in message) {
          this.#child.off('message', listen)
          resolve(message.memory)
        }
      }
      this.#child.on('message', listen)
    })
    const request: ServerRequest = { id, type: 'memory' }
    this.#child.send(request)
    return await within(ANSWER_TIMEOUT, 'the server\'s memory', answer)
  }

  /** Writes a heap snapshot (after a full GC) and returns its census. */
  async snapshot (): Promise<Census> {
    await this.memory()
    const before = new Set(await readdir(this.#dir))
    this.#child.kill('SIGUSR2')
    // The signal's snapshot is written in the background: wait for a complete file.
    const deadline = performance.now() + ANSWER_TIMEOUT
    while (performance.now() < deadline) {
      await sleep(500)
      const file = (await readdir(this.#dir)).find((name) => name.endsWith('.heapsnapshot') && !before.has(name))
      if (file === undefined) continue
      const text = await readFile(join(this.#dir, file), 'utf8')
      if (!text.trimEnd().endsWith(']}')) continue
      await rm(join(this.#dir, file))
      return censusOf(JSON.parse(text) as HeapSnapshot)
    }
    throw new Error('the server wrote no complete heap snapshot')
  }

  async stop (): Promise<void> {
    this.#child.kill('SIGKILL')
    await rm(this.#dir, { recursive: true, force: true })
  }
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Counts the objects of a snapshot by type and constructor (by type alone for strings, code, arrays...). */
function censusOf ({ snapshot, nodes, strings }: HeapSnapshot): Census {
  const fields = snapshot.meta.node_fields
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const types = snapshot.meta.node_types[0]
  const census: Census = new Map()
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string
    const named = type === 'object' || type === 'closure' || type === 'native'
    const key = named ? `${type}:${strings[nodes[i + nameAt] as number] as string}` : type
    const entry = census.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += nodes[i + sizeAt] as number
    census.set(key, entry)
  }
  return census
}

/** `after - before`, divided by `per`. */
function difference (after: Census, before: Census, per: number): Census {
  const result: Census = new Map()
  for (const key of new Set([...after.keys(), ...before.keys()])) {
    const a = after.get(key) ?? { count: 0, bytes: 0 }
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    result.set(key, { count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per })
  }
  return result
}

async function measure (target: TargetName, connections: number): Promise<Measured> {
  const server = await Server.start(target)
  try {
    const before = await server.memory()
    const censusBefore = await server.snapshot()
    const clients = await connectMany(CLIENTS[target](), `http://127.0.0.1:${server.port}`, connections, {})
    const deadline = performance.now() + SETTLE_TIMEOUT
    let after = await server.memory()
    while (after.connections < connections) {
      if (performance.now() > deadline) throw new Error(`${target} holds ${after.connections} of ${connections} connections`)
      await sleep(200)
      after = await server.memory()
    }
    const census = difference(await server.snapshot(), censusBefore, connections)
    for (const client of clients) client.close()
    return { rssKB: (after.rss - before.rss) / connections / KB, heapKB: (after.heapUsed - before.heapUsed) / connections / KB, census }
  } finally {
    await server.stop()
  }
}

function table (title: string, census: Census): string {
  const rows = [...census].filter(([, { count, bytes }]) => Math.abs(count) >= 0.01 || Math.abs(bytes) >= 1)
    .sort(([, a], [, b]) => Math.abs(b.bytes) - Math.abs(a.bytes)).slice(0, TOP)
  const total = [...census.values()].reduce((sum, { bytes }) => sum + bytes, 0)
  return [
    `\n${title} (per connection; self sizes; total ${total.toFixed(0)} B)`,
    '| type:constructor | objects | bytes |', '| --- | --- | --- |',
    ...rows.map(([key, { count, bytes }]) => `| ${key} | ${count.toFixed(2)} | ${bytes.toFixed(0)} |`)
  ].join('\n')
}

const [countArgument, ...targetArguments] = process.argv.slice(2)
const connections = countArgument === undefined ? DEFAULT_CONNECTIONS : Number(countArgument)
const targets = (targetArguments.length > 0 ? targetArguments : ['primus', 'plugin']) as TargetName[]
const results = new Map<TargetName, Measured>()
for (const target of targets) {
  const measured = await measure(target, connections)
  results.set(target, measured)
  console.log(`${target}: ${connections} idle connections, per connection: RSS ${measured.rssKB.toFixed(2)} KB, heap ${measured.heapKB.toFixed(2)} KB`)
  console.log(table(`${target}: what a connection adds to the heap`, measured.census))
}
const primus = results.get('primus')
const plugin = results.get('plugin')
if (primus !== undefined && plugin !== undefined) {
  console.log(table('the plugin over Primus: what the plugin adds to a connection', difference(plugin.census, primus.census, 1)))
}
process.exit(0)
