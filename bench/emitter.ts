/**
 * `npm run bench:emitter`: how many room messages a second reach every member of a room spread over
 * three nodes on one Redis, said by one worker process through the emitter (lib/emitter.ts), against
 * the same said from inside a node (`rooms.broadcast` in an action of the first node). Both keep
 * `window` messages in flight and count until every member has every message; room history is on (the
 * default): each message is stamped, kept and published by one script, from the worker as from a
 * node. This load process is the worker: it runs the emitter and the members' clients, and loads no
 * server. Needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379), whose keys go under a
 * prefix of the run's own, deleted at the end. Writes bench/EMITTER.md; docs/PERFORMANCE.md quotes it.
 */
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createEmitter } from '../lib/emitter.js'
import { CLIENTS } from './clients/index.js'
import { ROOM } from './config.js'
import { connectMany, repeatConcurrently } from './load/scenario.js'
import { joinRoom } from './load/say.js'
import { ServerProcess } from './load/server-process.js'
import { within } from './load/time.js'
import { deleteKeys, runPrefix } from './redis-keys.js'
import { summarize, type Summary } from './stats.js'

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    members: { type: 'string', default: '30' },
    messages: { type: 'string', default: '5000' },
    window: { type: 'string', default: '64' },
    out: { type: 'string', default: 'bench' }
  }
})
const ROUNDS = Number(options.rounds)
const MEMBERS = Number(options.members)
const MESSAGES = Number(options.messages)
const WINDOW = Number(options.window)
const NODES = 3
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = runPrefix()
const DELIVERY_TIMEOUT = 120_000

type Source = 'a worker, through the emitter' | 'inside a node (rooms.broadcast)'
const SOURCES: Source[] = ['a worker, through the emitter', 'inside a node (rooms.broadcast)']

const started = performance.now()
const nodes = await Promise.all(Array.from({ length: NODES }, () => ServerProcess.start('plugin', { BENCH_REDIS: JSON.stringify({ url: redisUrl, prefix }) })))
const emitter = createEmitter({ redis: { url: redisUrl, prefix } })
const rates = new Map<Source, number[]>(SOURCES.map((source) => [source, []]))
try {
  let received = 0
  let wanted = Infinity
  let allReceived = (): void => {}
  const onSay = (): void => { if (++received === wanted) allReceived() }
  const connect = CLIENTS.plugin()
  const members = []
  for (const [index, node] of nodes.entries()) {
    const share = Math.floor(MEMBERS / NODES) + (index < MEMBERS % NODES ? 1 : 0)
    members.push(...await connectMany(connect, node.url, share, { onSay }, joinRoom))
  }
  /** Says MESSAGES messages from `source`; resolves how many a second reached every member. */
  const measure = async (source: Source): Promise<number> => {
    received = 0
    wanted = MESSAGES * MEMBERS
    const delivered = new Promise<void>((resolve) => { allReceived = resolve })
    const start = performance.now()
    if (source === SOURCES[0]) {
      let n = 0
      await repeatConcurrently(MESSAGES, WINDOW, () => emitter.broadcast(ROOM, `worker ${n++}`))
    } else {
      const response = await fetch(`${nodes[0]?.url ?? ''}/api/broadcastMany`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: MESSAGES, window: WINDOW })
      })
      if (!response.ok) throw new Error(`broadcastMany answered ${response.status}`)
    }
    await within(DELIVERY_TIMEOUT, `${MEMBERS} members receiving ${MESSAGES} messages`, delivered)
    return MESSAGES / ((performance.now() - start) / 1000)
  }
  await measure(SOURCES[0] as Source) // warm-up of both paths
  await measure(SOURCES[1] as Source)
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? SOURCES : [...SOURCES].reverse()
    for (const source of order) {
      const rate = await measure(source)
      rates.get(source)?.push(rate)
      console.log(`round ${round}/${ROUNDS}  ${source.padEnd(34)} ${rate.toFixed(0)} messages/s to all ${MEMBERS} members`)
    }
  }
  for (const member of members) member.close()
} finally {
  await emitter.close()
  await Promise.all(nodes.map((node) => node.stop()))
  await deleteKeys(redisUrl, prefix)
}

const cell = ({ median, min, max }: Summary): string => `${median.toFixed(0)} (${min.toFixed(0)}–${max.toFixed(0)})`
const node = summarize(rates.get(SOURCES[1] as Source) ?? [0])
const report = [
  '# Room messages from a worker (the emitter)',
  '',
  `Measured by \`npm run bench:emitter\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}, Redis at ${redisUrl}; ` +
    `${ROUNDS} rounds in alternating order, ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  `${MESSAGES.toLocaleString('en')} messages to a room of ${MEMBERS} members spread evenly over ${NODES} nodes on one Redis, ` +
    `${WINDOW} in flight at a time, room history on (the default): the messages a second until every member has every ` +
    'message. From a worker, each is one script call (stamp, keep, publish) from the worker\'s process, and every node ' +
    'delivers it from its room channel; from inside a node, the first node runs the same script and delivers to its own ' +
    'members from the answer. Each figure is the median of the rounds, with the lowest and highest.',
  '',
  '| said from | messages/s to every member | × inside a node |',
  '| --- | --- | --- |',
  ...SOURCES.map((source) => {
    const rate = summarize(rates.get(source) ?? [0])
    return `| ${source} | ${cell(rate)} | ${(rate.median / node.median).toFixed(2)} |`
  }),
  '',
  'On this 2-core machine the worker (with the members\' clients), Redis and the three app servers share the cores.',
  ''
].join('\n')
await writeFile(join(options.out, 'EMITTER.md'), report)
console.log(`\nWrote ${join(options.out, 'EMITTER.md')}`)
