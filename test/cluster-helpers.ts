/**
 * Helpers for the scale-out tests: app servers in their own processes, a unique key prefix per test
 * (removed afterwards), and a Redis server of the test's own when it must be stopped and started.
 */
import assert from 'node:assert/strict'
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { Redis } from 'ioredis'
import type { ActionheroWsOptions, RedisOptions } from '../lib/index.js'
import { freePort, redisCommand, startLocalRedisCluster, type LocalRedisCluster } from '../bench/load/redis-cluster.js'
import { waitFor } from './helpers.js'

export const SHARED_REDIS = 'redis://127.0.0.1:6379'

/** Whether a Redis answers at `url`; outside CI a test may skip when none does. */
export async function redisAnswers (url = SHARED_REDIS): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.ping() === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/** Skips the test (outside CI) or fails it (in CI) when there is no Redis. Returns false when skipped. */
export async function needRedis (t: TestContext, url = SHARED_REDIS): Promise<boolean> {
  if (await redisAnswers(url)) return true
  if (process.env.CI) throw new Error(`no Redis answers at ${url}: start redis-server (.ci/run does)`)
  t.skip(`no Redis answers at ${url}: start redis-server to run this test`)
  return false
}

export async function keysUnder (url: string, prefix: string): Promise<string[]> {
  const client = new Redis(url)
  try {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    return keys
  } finally {
    client.disconnect()
  }
}

async function deleteKeys (url: string, prefix: string): Promise<void> {
  if (!await redisAnswers(url)) return
  const keys = await keysUnder(url, prefix)
  const client = new Redis(url)
  if (keys.length > 0) await client.del(...keys)
  client.disconnect()
}

export interface ClusterNode {
  port: number
  url: string
  process: ChildProcess
  /** The warnings the node logged (JSON lines), newest last. */
  logs: Array<Record<string, unknown>>
  /** Unhandled rejections and uncaught exceptions the node reported before exiting. */
  fatal: string[]
  /** Calls one of the fixture's control actions over HTTP and returns its `result`. */
  call: <T = unknown>(action: string, params?: Record<string, unknown>) => Promise<T>
  /** Stops the node: SIGTERM closes it cleanly, SIGKILL leaves its traces for the others to reap. */
  stop: (signal?: NodeJS.Signals) => Promise<void>
}

export interface TestCluster {
  /** The key prefix of this test's cluster; every key under it is deleted when the test ends. */
  prefix: string
  redisUrl: string
  /** Starts an app server of this cluster in its own process. */
  startNode: (options?: ActionheroWsOptions) => Promise<ClusterNode>
  /** Fails when a node reported an unhandled rejection or uncaught exception, or exited without being stopped. */
  assertHealthy: () => void
}

/**
 * A cluster of app servers on `redisUrl` under a prefix of its own. When the test ends its nodes
 * stop, then its keys are deleted.
 */
export function createCluster (t: TestContext, { redisUrl = SHARED_REDIS, prefix = uniquePrefix(), redis }: {
  redisUrl?: string
  prefix?: string
  /** Where the nodes meet instead of `redisUrl`, e.g. `{ cluster: [...] }` for a Redis Cluster the test tears down. */
  redis?: RedisOptions
} = {}): TestCluster {
  const nodes: ClusterNode[] = []
  const stopped = new WeakSet<ClusterNode>()
  t.after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    if (redis === undefined) await deleteKeys(redisUrl, prefix)
  })
  return {
    prefix,
    redisUrl,
    startNode: async (options = {}) => {
      const node = await startNode({
        ...options,
        redis: { ...(redis ?? { url: redisUrl }), prefix, heartbeatInterval: 250, nodeTimeout: 1500, ...options.redis }
      })
      const stop = node.stop
      node.stop = async (signal) => {
        stopped.add(node)
        await stop(signal)
      }
      nodes.push(node)
      return node
    },
    assertHealthy: () => {
      for (const node of nodes) {
        assert.deepEqual(node.fatal, [], 'no unhandled rejection nor uncaught exception in a node')
        if (!stopped.has(node)) assert.equal(node.process.exitCode ?? node.process.signalCode, null, 'the node is still running')
      }
    }
  }
}

/** A unique prefix on the shared Redis whose keys are deleted when the test ends. */
export function sharedPrefix (t: TestContext): string {
  const prefix = uniquePrefix()
  t.after(() => deleteKeys(SHARED_REDIS, prefix))
  return prefix
}

export function uniquePrefix (): string {
  return `ahws-test-${randomBytes(4).toString('hex')}:`
}

async function startNode (options: ActionheroWsOptions): Promise<ClusterNode> {
  const child = fork(new URL('./fixtures/cluster-node.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AHWS_NODE_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc']
  })
  const logs: Array<Record<string, unknown>> = []
  const fatal: string[] = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      process.stdout.write(`${line}\n`)
    }
  })
  child.on('message', (message: { fatal?: string }) => { if (typeof message.fatal === 'string') fatal.push(message.fatal) })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    // A stopped process must go on to hear the signal.
    if (signal !== 'SIGKILL') child.kill('SIGCONT')
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { port?: number }) => { if (typeof message.port === 'number') resolve(message.port) })
    child.once('exit', (code) => reject(new Error(`the node exited with ${code} before listening ${fatal.join('\n')}`)))
  })
  const url = `http://127.0.0.1:${port}`
  const call = async <T>(action: string, params: Record<string, unknown> = {}): Promise<T> => {
    const response = await fetch(`${url}/api/${action}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params)
    })
    const body = await response.json() as { result?: T, error?: string }
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`)
    return body.result as T
  }
  return { port, url, process: child, logs, fatal, call, stop }
}

/** Whether redis-server and redis-cli are installed, for tests that start servers of their own; in CI they must be. */
export function needRedisServer (t: TestContext): boolean {
  const found = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0
  if (found) return true
  if (process.env.CI) throw new Error('redis-server and redis-cli are needed for tests that start Redis servers of their own (.ci/run installs them)')
  t.skip('redis-server or redis-cli is missing: install them to run the tests that start Redis servers of their own')
  return false
}

export interface OwnRedis {
  url: string
  port: number
  start: () => Promise<void>
  /**
   * Kills the server; with `keepData` it saves an RDB snapshot first, which the next start loads, and
   * with `snapshotAge` it goes on serving that many ms after the snapshot (whatever it took then is lost).
   */
  kill: (options?: { keepData?: boolean, snapshotAge?: number }) => Promise<void>
  /** A command on this server, from a client of the test's. */
  command: (...args: Array<string | number>) => Promise<unknown>
}

/** A redis-server of the test's own, on a free port, that the test may kill, start again, or put to sleep. */
export async function startOwnRedis (t: TestContext): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ahws-redis-'))
  const url = `redis://127.0.0.1:${port}`
  let server: ChildProcess | null = null
  const command = (...args: Array<string | number>): Promise<unknown> => redisCommand(url, ...args)
  const kill = async ({ keepData = false, snapshotAge = 0 } = {}): Promise<void> => {
    if (server === null) return
    if (keepData) await command('SAVE')
    else rmSync(join(dir, 'dump.rdb'), { force: true })
    if (snapshotAge > 0) await new Promise((resolve) => setTimeout(resolve, snapshotAge))
    const exited = new Promise((resolve) => server?.once('exit', resolve))
    server.kill('SIGKILL')
    await exited
    server = null
  }
  const start = async (): Promise<void> => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--enable-debug-command', 'yes'], { stdio: 'ignore' })
    await waitFor(() => redisAnswers(url), 10_000)
  }
  t.after(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return { url, port, start, kill, command }
}

/**
 * A Redis Cluster of three masters of the test's own (and a replica of each, when asked), see
 * bench/load/redis-cluster.ts, stopped when the test ends.
 */
export async function startRedisCluster (t: TestContext, options: { replicas?: boolean } = {}): Promise<LocalRedisCluster> {
  const cluster = await startLocalRedisCluster(options)
  t.after(() => cluster.stop())
  return cluster
}
