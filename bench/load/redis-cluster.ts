/**
 * A local Redis Cluster of three masters (and, when asked, a replica of each), for the Redis Cluster
 * tests and `npm run bench:cluster`: redis-server with --cluster-enabled in temp dirs, on free ports,
 * joined by `redis-cli --cluster create`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

export interface LocalRedisCluster {
  /** The startup nodes (the masters when it was made), as the plugin's `redis: { cluster }` takes them. */
  nodes: Array<{ host: string, port: number }>
  /** The replicas, one per master, when asked for. */
  replicas: Array<{ host: string, port: number }>
  /** A command on every master. */
  onEveryMaster: (...args: Array<string | number>) => Promise<unknown[]>
  /** Kills the servers and deletes their directories. */
  stop: () => Promise<void>
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

/** One command on the Redis at `url`, from a client of its own. */
export async function redisCommand (url: string, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

async function until (condition: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout
  while (!await condition().catch(() => false)) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeout} ms`)
    await sleep(50)
  }
}

export async function startLocalRedisCluster ({ replicas: withReplicas = false }: { replicas?: boolean } = {}): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ahws-redis-cluster-'))
  const servers: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => new Promise((resolve) => {
      if (server.exitCode !== null || server.signalCode !== null) return resolve(null)
      server.once('exit', resolve)
      server.kill('SIGKILL')
    })))
    rmSync(dir, { recursive: true, force: true })
  }
  const nodes: Array<{ host: string, port: number }> = []
  const replicas: Array<{ host: string, port: number }> = []
  const onEveryMaster = (...args: Array<string | number>): Promise<unknown[]> =>
    Promise.all(nodes.map(({ host, port }) => redisCommand(`redis://${host}:${port}`, ...args)))
  try {
    for (let n = 0; n < (withReplicas ? 6 : 3); n++) {
      const [port, busPort] = [await freePort(), await freePort()]
      const nodeDir = join(dir, String(n))
      mkdirSync(nodeDir)
      const server = spawn('redis-server', ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'no', '--dir', nodeDir],
      { stdio: 'ignore' })
      server.on('error', () => {})
      servers.push(server)
      // redis-cli makes the first three masters and the others their replicas.
      ;(n < 3 ? nodes : replicas).push({ host: '127.0.0.1', port })
    }
    for (const { host, port } of [...nodes, ...replicas]) await until(async () => await redisCommand(`redis://${host}:${port}`, 'PING') === 'PONG', 10_000, 'redis-server did not start')
    const create = spawn('redis-cli', ['--cluster', 'create', ...[...nodes, ...replicas].map(({ host, port }) => `${host}:${port}`),
      '--cluster-replicas', withReplicas ? '1' : '0', '--cluster-yes'], { stdio: 'ignore' })
    const code = await new Promise((resolve) => { create.once('exit', resolve); create.once('error', resolve) })
    if (code !== 0) throw new Error(`redis-cli --cluster create failed: ${String(code)}`)
    await until(async () => (await onEveryMaster('CLUSTER', 'INFO')).every((info) => String(info).includes('cluster_state:ok')), 20_000,
      'the Redis Cluster was not ok')
    // A replica takes part once it has synced with its master.
    for (const { host, port } of replicas) {
      await until(async () => String(await redisCommand(`redis://${host}:${port}`, 'INFO', 'replication')).includes('master_link_status:up'), 20_000,
        'a replica did not sync')
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { nodes, replicas, onEveryMaster, stop }
}
