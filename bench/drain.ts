/**
 * `npm run bench:drain`: a rolling deploy under 3,000 clients. Three node processes on one Redis
 * (history on) behind a TCP balancer; 3,000 package clients (this process) in one room, and a sender
 * saying in it; each node in turn is stopped with SIGTERM (its `close()`), replaced, and its clients
 * come back through the balancer to the others. Per setup, the peak handshake rate the surviving
 * nodes see (handshakes in any one second, both survivors together and the busier one alone), how
 * long until every client is back, and whether every client is in its room with every offset heard
 * once, in order, and every rejoin recovered. Setups: today's close (every connection at once) with
 * every client's first attempt 500 ms after the drop; the same close with jittered clients; the drain
 * (its defaults) with jittered clients. Needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379),
 * whose keys go under a prefix of the run's own, deleted at the end. Writes bench/DRAIN.md.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ActionheroClient, type ChatMessage, type ClientOptions } from '../lib/client/node.js'
import { Balancer } from './load/balancer.js'
import { peakPerSecond } from './load/handshake-rate.js'
import { deleteKeys, runPrefix as newPrefix } from './redis-keys.js'

interface Setup {
  name: string
  drain: false | { batchSize?: number, intervalMs?: number }
  reconnect: ClientOptions['reconnect']
}

const SETUPS: Setup[] = [
  { name: 'before: all at once, first attempt at 500 ms', drain: false, reconnect: { min: 500, factor: 1, max: 500 } },
  { name: 'all at once, jittered clients', drain: false, reconnect: {} },
  { name: 'after: drain (defaults), jittered clients', drain: {}, reconnect: {} },
  { name: 'drain of 100 every 100 ms, jittered clients', drain: { batchSize: 100, intervalMs: 100 }, reconnect: {} }
]

const { values: options } = parseArgs({ options: { clients: { type: 'string', default: '3000' }, out: { type: 'string', default: 'bench' } } })
const CLIENTS = Number(options.clients)
const ROOM = 'drain'
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const runPrefix = newPrefix()
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const DEADLINE = Number(process.env.BENCH_DRAIN_DEADLINE ?? 120_000)

interface Node {
  port: number
  child: ChildProcess
  handshakes: () => Promise<number[]>
  stop: () => Promise<void>
}

async function startNode (drain: Setup['drain'], prefix: string): Promise<Node> {
  const child = fork(new URL(`./servers/drain-node${EXTENSION}`, import.meta.url), {
    execArgv: process.execArgv,
    env: { ...process.env, BENCH_REDIS: JSON.stringify({ url: redisUrl, prefix }), BENCH_DRAIN: JSON.stringify(drain) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { port?: number }) => { if (typeof message.port === 'number') resolve(message.port) })
    child.once('exit', (code) => reject(new Error(`a node exited with ${code} while starting`)))
  })
  return {
    port,
    child,
    handshakes: () => new Promise((resolve) => {
      const answer = (message: { handshakes?: number[] }): void => {
        if (message.handshakes === undefined) return
        child.off('message', answer)
        resolve(message.handshakes)
      }
      child.on('message', answer)
      child.send('handshakes')
    }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(timer)
    }
  }
}

async function waitFor (condition: () => boolean, what: string, status = (): string => ''): Promise<void> {
  const deadline = Date.now() + DEADLINE
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${status()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Restart {
  /** Handshakes in the busiest second, both survivors together. */
  survivors: number
  /** The same in the busiest 100 ms, as a rate per second: the burst a node's event loop sees. */
  burst: number
  /** Connections the clients opened to the balancer in the busiest second, and in the busiest 100 ms (per second): the load they offered. */
  offered: number
  offeredBurst: number
  /** The same on the busier survivor alone. */
  busiest: number
  /** From SIGTERM until every client was connected again, in ms. */
  backMs: number
}

interface Outcome {
  restarts: Restart[]
  /** Clients in their room, with every offset once and in order, and every rejoin recovered. */
  complete: number
  rejoins: number
}

async function run (setup: Setup): Promise<Outcome> {
  // A prefix per setup: each starts its room's offsets from 1.
  const prefix = `${runPrefix}${SETUPS.indexOf(setup)}:`
  const nodes = await Promise.all([0, 1, 2].map(() => startNode(setup.drain, prefix)))
  const balancer = await Balancer.start(nodes.map((node) => node.port))
  const clients: ActionheroClient[] = []
  const heard = new Map<ActionheroClient, ChatMessage[]>()
  const recoveries = new Map<ActionheroClient, boolean[]>()
  const control = { saying: true }
  try {
    const clientOptions = { url: balancer.url, reconnect: setup.reconnect, timeout: 60_000 }
    for (let i = 0; i < CLIENTS; i += 100) {
      const batch = Array.from({ length: Math.min(100, CLIENTS - i) }, () => new ActionheroClient(clientOptions))
      for (const client of batch) {
        heard.set(client, [])
        recoveries.set(client, [])
        client.on('say', (message: ChatMessage) => heard.get(client)?.push(message))
        client.on('recovered', ({ recovered }) => recoveries.get(client)?.push(recovered))
      }
      await Promise.all(batch.map(async (client) => {
        await client.connect()
        const joined = await client.roomAdd(ROOM)
        if (joined.data !== true) throw new Error(`roomAdd: ${joined.error ?? 'refused'}`)
      }))
      clients.push(...batch)
    }
    const sender = new ActionheroClient(clientOptions)
    await sender.connect()
    await sender.roomAdd(ROOM)
    const said = (async () => {
      while (control.saying) {
        await sender.say(ROOM, 'tick')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    })()
    const restarts: Restart[] = []
    for (let n = 0; n < nodes.length; n++) {
      const old = nodes[n] as Node
      const survivors = nodes.filter((node) => node !== old)
      const rejoinsBefore = [...recoveries.values()].reduce((sum, list) => sum + list.length, 0)
      const stoppedAt = Date.now()
      await old.stop()
      const replacement = await startNode(setup.drain, prefix)
      nodes[n] = replacement
      balancer.add(replacement.port)
      balancer.remove(old.port)
      await waitFor(() => clients.every((client) => client.state === 'connected') &&
        [...recoveries.values()].reduce((sum, list) => sum + list.length, 0) > rejoinsBefore, 'every client back', () => {
        const states: Record<string, number> = {}
        for (const client of clients) states[client.state] = (states[client.state] ?? 0) + 1
        return JSON.stringify({ states, rejoinsBefore, rejoins: [...recoveries.values()].reduce((sum, list) => sum + list.length, 0) })
      })
      const backMs = Date.now() - stoppedAt
      const seen = await Promise.all(survivors.map((node) => node.handshakes()))
      restarts.push({
        survivors: peakPerSecond(seen.flat(), stoppedAt),
        burst: peakPerSecond(seen.flat(), stoppedAt, 100),
        offered: peakPerSecond(balancer.arrivals, stoppedAt),
        offeredBurst: peakPerSecond(balancer.arrivals, stoppedAt, 100),
        busiest: Math.max(...seen.map((times) => peakPerSecond(times, stoppedAt))),
        backMs
      })
      const last = restarts.at(-1) as Restart
      console.log(`${setup.name}: restart ${n + 1}: offered ${last.offered}/s (${last.offeredBurst}/s over 100 ms), ` +
        `survivors' peak ${last.survivors}/s (${last.burst}/s over 100 ms), back in ${backMs} ms`)
    }
    control.saying = false
    await said
    // A last message, once every client is back: each must then have every offset from 1 to it.
    await sender.say(ROOM, 'end')
    await waitFor(() => clients.every((client) => heard.get(client)?.some((message) => message.message === 'end') === true), 'the last message everywhere')
    const lastOffset = Math.max(...clients.map((client) => heard.get(client)?.at(-1)?.offset ?? 0))
    let complete = 0
    for (const client of clients) {
      const offsets = (heard.get(client) ?? []).map((message) => message.offset)
      const inOrder = offsets.length === lastOffset && offsets.every((offset, i) => offset === i + 1)
      if (inOrder && client.rooms.includes(ROOM) && (recoveries.get(client) ?? []).every(Boolean)) complete++
    }
    sender.disconnect()
    return { restarts, complete, rejoins: [...recoveries.values()].reduce((sum, list) => sum + list.length, 0) }
  } finally {
    control.saying = false
    for (const client of clients) client.disconnect()
    await balancer.close()
    await Promise.all(nodes.map((node) => node.stop()))
  }
}

const started = performance.now()
const outcomes = new Map<string, Outcome>()
try {
  for (const setup of SETUPS) outcomes.set(setup.name, await run(setup))
} finally {
  await deleteKeys(redisUrl, runPrefix)
}

const rows = SETUPS.map((setup) => {
  const outcome = outcomes.get(setup.name) as Outcome
  const list = (pick: (restart: Restart) => number): string => outcome.restarts.map(pick).join(', ')
  const most = (pick: (restart: Restart) => number): string => `${Math.max(...outcome.restarts.map(pick))} (${list(pick)})`
  return `| ${setup.name} | ${most((r) => r.offered)} | ${most((r) => r.offeredBurst)} | ${most((r) => r.survivors)} | ` +
    `${most((r) => r.burst)} | ` +
    `${list((r) => r.busiest)} | ${list((r) => Math.round(r.backMs / 100) / 10)} | ${outcome.complete} / ${CLIENTS} |`
})
const report = [
  '# Rolling deploy: the reconnect storm',
  '',
  `Measured by \`npm run bench:drain\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores, Node.js ${process.version}, Redis 7 at ${redisUrl}; ` +
    `${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  `Three node processes on one Redis (history on) behind a TCP balancer; ${CLIENTS.toLocaleString('en')} package clients ` +
    'in one room (one process, the balancer\'s), a sender saying in it every 500 ms. Each node in turn gets SIGTERM ' +
    '(`close()`), is replaced, and its clients come back through the balancer to the other nodes. "Survivors\' peak": ' +
    'the most handshakes the two nodes left running accepted in any one second after the SIGTERM (per restart in ' +
    'brackets); "busier survivor": the same on one node; "back in": from the SIGTERM until every client is connected ' +
    'again (it includes starting the replacement). "Complete": clients in their room at the end that heard every ' +
    'offset of it once, in order, and recovered every rejoin. "Burst": the busiest 100 ms, as a rate per second. ' +
    '"Attempts offered": the connections the clients opened to the balancer, whichever node they reached (the draining ' +
    'one answers 503): the storm as the clients make it, before the nodes\' capacity flattens it. Each figure is the ' +
    'highest of the three restarts, each restart\'s in brackets.',
  '',
  '| setup | attempts offered (/s) | offered burst (/s over 100 ms) | survivors\' peak (handshakes/s) | survivors\' burst (/s over 100 ms) | busier survivor, per restart | back in (s), per restart | complete |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  '"before" reproduces today\'s client: Primus\'s first attempt comes exactly `min` (500 ms) after the drop, so ' +
    'the client is given `reconnect: { min: 500, factor: 1 }`. On this 2-core machine the clients, the balancer, ' +
    'Redis and the nodes share the cores, with other work running: the figures are noisy.',
  ''
].join('\n')
await writeFile(join(options.out, 'DRAIN.md'), report)
console.log(report)
