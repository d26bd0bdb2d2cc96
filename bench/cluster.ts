/**
 * `npm run bench:cluster`: one `say` to a room of 2,000 members, on one node, on three nodes that share
 * the room through one Redis, and on three nodes that share it through a Redis Cluster of three masters
 * (room traffic on sharded pub/sub), in one run, over alternating rounds: the time until every other
 * member has it, the time until the members on the sender's own node have it (room history on, the
 * default: with Redis, one round trip to stamp and keep it), and the CPU all nodes spend on it. The
 * members are split evenly between the nodes, the sender on the first. Needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379), whose keys go
 * under a prefix of the run's own, deleted at the end; the Redis Cluster is started by the run itself
 * (redis-server and redis-cli must be installed) and stopped at the end. Writes bench/CLUSTER.md.
 */
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { BenchClient } from './clients/client.js'
import { CLIENTS } from './clients/index.js'
import { connectMany } from './load/scenario.js'
import { BROADCASTS, Deliveries, joinRoom } from './load/say.js'
import { startLocalRedisCluster, type LocalRedisCluster } from './load/redis-cluster.js'
import { ServerProcess } from './load/server-process.js'
import { deleteKeys, runPrefix } from './redis-keys.js'
import { summarize, type Summary } from './stats.js'

interface Setup {
  name: string
  nodes: number
  redis: 'none' | 'one' | 'cluster'
}

const SETUPS: Setup[] = [
  { name: 'one node, rooms in memory', nodes: 1, redis: 'none' },
  { name: 'three nodes on one Redis', nodes: 3, redis: 'one' },
  { name: 'three nodes on a Redis Cluster (3 masters)', nodes: 3, redis: 'cluster' }
]

const { values: options } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, members: { type: 'string', default: '2000' }, out: { type: 'string', default: 'bench' } }
})
const MEMBERS = Number(options.members)
const rounds = Number(options.rounds)
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = runPrefix()

/** One measurement of a setup: median delivery time of BROADCASTS says, and all nodes' CPU per say. */
async function measure (setup: Setup, redisCluster: LocalRedisCluster): Promise<{ deliveryMs: number, localMs: number, serverCpuMs: number }> {
  const redis = { none: null, one: { url: redisUrl, prefix }, cluster: { cluster: redisCluster.nodes, prefix } }[setup.redis]
  const env: Record<string, string> = redis === null ? {} : { BENCH_REDIS: JSON.stringify(redis) }
  const nodes = await Promise.all(Array.from({ length: setup.nodes }, () => ServerProcess.start('plugin', env)))
  try {
    const deliveries = new Deliveries()
    // The members on the sender's node count apart too: how soon its own node delivers a say.
    const local = new Deliveries()
    const connect = CLIENTS.plugin()
    const members: BenchClient[] = []
    let localMembers = 0
    for (const [index, node] of nodes.entries()) {
      const share = Math.floor(MEMBERS / nodes.length) + (index < MEMBERS % nodes.length ? 1 : 0)
      const onSay = index === 0 ? (message: string) => { deliveries.onSay(message); local.onSay(message) } : deliveries.onSay
      if (index === 0) localMembers = share - 1
      members.push(...await connectMany(connect, node.url, share, { onSay }, joinRoom))
    }
    // The sender is a member of the first node.
    const sender = members[0] as BenchClient
    await deliveries.time(sender, MEMBERS - 1) // warm-up
    const cpuBefore = await Promise.all(nodes.map((node) => node.cpuTime()))
    const times: number[] = []
    for (let i = 0; i < BROADCASTS; i++) times.push(await deliveries.time(sender, MEMBERS - 1))
    const cpuAfter = await Promise.all(nodes.map((node) => node.cpuTime()))
    const cpuUs = cpuAfter.reduce((sum, after, index) => sum + after - (cpuBefore[index] ?? 0), 0)
    const localTimes: number[] = []
    for (let i = 0; i < BROADCASTS; i++) {
      localTimes.push(await local.time(sender, localMembers))
      // The others hear it too: let them, before the next say.
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    for (const member of members) member.close()
    times.sort((a, b) => a - b)
    localTimes.sort((a, b) => a - b)
    return { deliveryMs: times[times.length >> 1] as number, localMs: localTimes[localTimes.length >> 1] as number, serverCpuMs: cpuUs / BROADCASTS / 1000 }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
  }
}

function cell ({ median, min, max }: Summary): string {
  const round = (value: number): string => value.toFixed(1)
  return `${round(median)} (${round(min)}–${round(max)})`
}

const results = new Map<string, { deliveryMs: number[], localMs: number[], serverCpuMs: number[] }>(
  SETUPS.map((setup) => [setup.name, { deliveryMs: [], localMs: [], serverCpuMs: [] }]))
const started = performance.now()
const redisCluster = await startLocalRedisCluster()
try {
  for (let round = 1; round <= rounds; round++) {
    for (const setup of round % 2 === 1 ? SETUPS : [...SETUPS].reverse()) {
      const figures = await measure(setup, redisCluster)
      const result = results.get(setup.name)
      result?.deliveryMs.push(figures.deliveryMs)
      result?.localMs.push(figures.localMs)
      result?.serverCpuMs.push(figures.serverCpuMs)
      console.log(`round ${round}/${rounds}  ${setup.name.padEnd(42)} delivery ${figures.deliveryMs.toFixed(1)} ms, ` +
        `on the sender's node ${figures.localMs.toFixed(1)} ms, servers' CPU ${figures.serverCpuMs.toFixed(1)} ms`)
    }
  }
} finally {
  await deleteKeys(redisUrl, prefix)
  await redisCluster.stop()
}

const baseline = summarize(results.get(SETUPS[0]?.name ?? '')?.deliveryMs ?? [0]).median
const rows = SETUPS.map((setup) => {
  const result = results.get(setup.name) ?? { deliveryMs: [0], localMs: [0], serverCpuMs: [0] }
  const delivery = summarize(result.deliveryMs)
  return `| ${setup.name} | ${cell(delivery)} | ${(delivery.median / baseline).toFixed(2)} | ${cell(summarize(result.localMs))} | ${cell(summarize(result.serverCpuMs))} |`
})
const report = [
  '# Cross-node `say` fan-out',
  '',
  `Measured by \`npm run bench:cluster\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}, ` +
    `Redis 7 at ${redisUrl}, and a local Redis Cluster of 3 masters; ${rounds} rounds in alternating order, ` +
    `${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  `One \`say\` to a room of ${MEMBERS.toLocaleString('en')} members (WebSocket clients of a separate load process): ` +
    `the time until all ${(MEMBERS - 1).toLocaleString('en')} others have it (median of ${BROADCASTS} says), and the CPU ` +
    'time all the app servers spent on one say. With three nodes each holds a third of the members; the sender is on ' +
    'the first. With room history on (the default), one script stamps, keeps and publishes the message to the room\'s ' +
    'channel, from which the other nodes deliver to their members; the sender\'s node delivers to its own from the ' +
    'script\'s answer, one Redis round trip ("on the sender\'s node": until its members, the sender aside, have it; ' +
    `${BROADCASTS} says apart from the others). On the Redis Cluster that channel is a sharded one (SPUBLISH), served ` +
    'by the one master that owns the room\'s slot. Each figure is the median of the rounds, with the lowest and highest.',
  '',
  '| setup | until all have it (ms) | × one node | on the sender\'s node (ms) | servers\' CPU per say (ms) |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
  'On this 2-core machine the load process, Redis and the app servers share the cores: three nodes cannot run in ' +
    'parallel here as they would on separate machines, so the cross-node figures are an upper bound of what a real cluster sees.',
  ''
].join('\n')
await writeFile(join(options.out, 'CLUSTER.md'), report)
console.log(`\nWrote ${join(options.out, 'CLUSTER.md')}`)
