/**
 * `npm run bench:cluster`: one `say` to a room of 2,000 members, on one node and on two nodes that
 * share the room through Redis (1,000 members each, the sender on the first), in one run, over
 * alternating rounds: the time until every other member has it, and the CPU all nodes spend on it.
 * Needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379); its keys go under a prefix of
 * the run's own, deleted at the end. Writes bench/CLUSTER.md.
 */
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { BenchClient } from './clients/client.js'
import { CLIENTS } from './clients/index.js'
import { connectMany } from './load/scenario.js'
import { BROADCASTS, Deliveries, joinRoom } from './load/say.js'
import { ServerProcess } from './load/server-process.js'
import { deleteKeys, runPrefix } from './redis-keys.js'
import { summarize, type Summary } from './stats.js'

const MEMBERS = 2000

interface Setup {
  name: string
  nodes: number
  redis: boolean
}

const SETUPS: Setup[] = [
  { name: 'one node, rooms in memory', nodes: 1, redis: false },
  { name: 'one node, rooms in Redis', nodes: 1, redis: true },
  { name: 'two nodes sharing the room through Redis', nodes: 2, redis: true }
]

const { values: options } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench' } } })
const rounds = Number(options.rounds)
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = runPrefix()

/** One measurement of a setup: median delivery time of BROADCASTS says, and all nodes' CPU per say. */
async function measure (setup: Setup): Promise<{ deliveryMs: number, serverCpuMs: number }> {
  const env: Record<string, string> = setup.redis ? { BENCH_REDIS: JSON.stringify({ url: redisUrl, prefix }) } : {}
  const nodes = await Promise.all(Array.from({ length: setup.nodes }, () => ServerProcess.start('plugin', env)))
  try {
    const deliveries = new Deliveries()
    const connect = CLIENTS.plugin()
    const members: BenchClient[] = []
    for (const [index, node] of nodes.entries()) {
      const share = Math.floor(MEMBERS / nodes.length) + (index < MEMBERS % nodes.length ? 1 : 0)
      members.push(...await connectMany(connect, node.url, share, { onSay: deliveries.onSay }, joinRoom))
    }
    // The sender is a member of the first node.
    const sender = members[0] as BenchClient
    await deliveries.time(sender, MEMBERS - 1) // warm-up
    const cpuBefore = await Promise.all(nodes.map((node) => node.cpuTime()))
    const times: number[] = []
    for (let i = 0; i < BROADCASTS; i++) times.push(await deliveries.time(sender, MEMBERS - 1))
    const cpuAfter = await Promise.all(nodes.map((node) => node.cpuTime()))
    const cpuUs = cpuAfter.reduce((sum, after, index) => sum + after - (cpuBefore[index] ?? 0), 0)
    for (const member of members) member.close()
    times.sort((a, b) => a - b)
    return { deliveryMs: times[times.length >> 1] as number, serverCpuMs: cpuUs / BROADCASTS / 1000 }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
  }
}

function cell ({ median, min, max }: Summary): string {
  const round = (value: number): string => value.toFixed(1)
  return `${round(median)} (${round(min)}–${round(max)})`
}

const results = new Map<string, { deliveryMs: number[], serverCpuMs: number[] }>(SETUPS.map((setup) => [setup.name, { deliveryMs: [], serverCpuMs: [] }]))
const started = performance.now()
try {
  for (let round = 1; round <= rounds; round++) {
    for (const setup of round % 2 === 1 ? SETUPS : [...SETUPS].reverse()) {
      const figures = await measure(setup)
      const result = results.get(setup.name)
      result?.deliveryMs.push(figures.deliveryMs)
      result?.serverCpuMs.push(figures.serverCpuMs)
      console.log(`round ${round}/${rounds}  ${setup.name.padEnd(42)} delivery ${figures.deliveryMs.toFixed(1)} ms, servers' CPU ${figures.serverCpuMs.toFixed(1)} ms`)
    }
  }
} finally {
  await deleteKeys(redisUrl, prefix)
}

const baseline = summarize(results.get(SETUPS[0]?.name ?? '')?.deliveryMs ?? [0]).median
const rows = SETUPS.map((setup) => {
  const result = results.get(setup.name) ?? { deliveryMs: [0], serverCpuMs: [0] }
  const delivery = summarize(result.deliveryMs)
  return `| ${setup.name} | ${cell(delivery)} | ${(delivery.median / baseline).toFixed(2)} | ${cell(summarize(result.serverCpuMs))} |`
})
const report = [
  '# Cross-node `say` fan-out',
  '',
  `Measured by \`npm run bench:cluster\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}, ` +
    `Redis at ${redisUrl}; ${rounds} rounds in alternating order, ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  `One \`say\` to a room of ${MEMBERS.toLocaleString('en')} members (WebSocket clients of a separate load process): ` +
    `the time until all ${(MEMBERS - 1).toLocaleString('en')} others have it (median of ${BROADCASTS} says), and the CPU ` +
    'time all the app servers spent on one say. With two nodes each holds half the members; the sender is on the ' +
    'first, which delivers to its own members at once and publishes the message once to the room\'s Redis channel, ' +
    'from which the second delivers to its half. Each figure is the median of the rounds, with the lowest and highest.',
  '',
  '| setup | until all have it (ms) | × one node | servers\' CPU per say (ms) |',
  '| --- | --- | --- | --- |',
  ...rows,
  '',
  'On this 2-core machine the load process, Redis and the app servers share the cores: two nodes cannot run in ' +
    'parallel here as they would on two machines, so the cross-node figure is an upper bound of what a real cluster sees.',
  ''
].join('\n')
await writeFile(join(options.out, 'CLUSTER.md'), report)
console.log(`\nWrote ${join(options.out, 'CLUSTER.md')}`)
