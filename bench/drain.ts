/**
 * `npm run bench:drain`: a rolling deploy under 3,000 clients. Three node processes on one Redis
 * (history on) behind a TCP balancer; 3,000 package clients in one room, spread over three processes of
 * their own (load/drain-clients.ts; `--client-processes`), and a sender
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
import { ActionheroClient, type ClientOptions } from '../lib/client/node.js'
import { Balancer } from './load/balancer.js'
import type { DrainClientsRequest, DrainClientsStatus } from './load/drain-clients.js'
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

const { values: options } = parseArgs({
  options: { clients: { type: 'string', default: '3000' }, 'client-processes': { type: 'string', default: '3' }, out: { type: 'string', default: 'bench' } }
})
const CLIENTS = Number(options.clients)
const CLIENT_PROCESSES = Number(options['client-processes'])
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

/** Polls the clients' status until `done` holds; answers the status that met it. */
async function waitFor (status: () => Promise<DrainClientsStatus>, done: (now: DrainClientsStatus) => boolean, what: string): Promise<DrainClientsStatus> {
  const deadline = Date.now() + DEADLINE
  for (;;) {
    const now = await status()
    if (done(now)) return now
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(now)}`)
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

/** A share of the clients in a process of their own (load/drain-clients.ts), asked one thing at a time. */
class ClientProcess {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #queue: Promise<unknown> = Promise.resolve()

  constructor () {
    this.#child = fork(new URL(`./load/drain-clients${EXTENSION}`, import.meta.url), {
      execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()))
  }

  /** The answer to `request`: the next message the process sends. */
  async ask<Answer extends object> (request: DrainClientsRequest): Promise<Answer> {
    const asked = this.#queue.then(async () => await new Promise<Answer>((resolve, reject) => {
      const settle = (message: Answer | { error: string }): void => {
        this.#child.off('exit', exited)
        if ('error' in message) reject(new Error(message.error))
        else resolve(message)
      }
      const exited = (code: number | null): void => {
        this.#child.off('message', settle)
        reject(new Error(`a client process exited with ${code}`))
      }
      this.#child.once('message', settle)
      this.#child.once('exit', exited)
      this.#child.send(request)
    }))
    this.#queue = asked.catch(() => {})
    return await asked
  }

  async status (): Promise<DrainClientsStatus> {
    return (await this.ask<{ status: DrainClientsStatus }>('status')).status
  }

  async stop (): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    if (this.#child.connected) this.#child.send('stop')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000)
    await this.#exited
    clearTimeout(timer)
  }
}

/** The clients' status over every process, summed. */
async function statusOf (processes: ClientProcess[]): Promise<DrainClientsStatus> {
  const statuses = await Promise.all(processes.map(async (clients) => await clients.status()))
  const states: Record<string, number> = {}
  for (const status of statuses) for (const [state, n] of Object.entries(status.states)) states[state] = (states[state] ?? 0) + n
  const sum = (pick: (status: DrainClientsStatus) => number): number => statuses.reduce((total, status) => total + pick(status), 0)
  return {
    clients: sum((status) => status.clients),
    connected: sum((status) => status.connected),
    states,
    rejoins: sum((status) => status.rejoins),
    heardEnd: sum((status) => status.heardEnd),
    lastOffset: Math.max(0, ...statuses.map((status) => status.lastOffset))
  }
}

async function run (setup: Setup): Promise<Outcome> {
  // A prefix per setup: each starts its room's offsets from 1.
  const prefix = `${runPrefix}${SETUPS.indexOf(setup)}:`
  const nodes = await Promise.all([0, 1, 2].map(() => startNode(setup.drain, prefix)))
  const balancer = await Balancer.start(nodes.map((node) => node.port))
  const processes = Array.from({ length: CLIENT_PROCESSES }, () => new ClientProcess())
  const control = { saying: true }
  let sender: ActionheroClient | null = null
  try {
    await Promise.all(processes.map(async (clients, i) => {
      const count = Math.floor(CLIENTS / CLIENT_PROCESSES) + (i < CLIENTS % CLIENT_PROCESSES ? 1 : 0)
      await clients.ask({ start: { url: balancer.url, reconnect: setup.reconnect, count, room: ROOM } })
    }))
    const status = async (): Promise<DrainClientsStatus> => await statusOf(processes)
    const connectedSender = new ActionheroClient({ url: balancer.url, reconnect: setup.reconnect, timeout: 60_000 })
    sender = connectedSender
    await connectedSender.connect()
    await connectedSender.roomAdd(ROOM)
    const said = (async () => {
      while (control.saying) {
        await connectedSender.say(ROOM, 'tick')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    })()
    const restarts: Restart[] = []
    for (let n = 0; n < nodes.length; n++) {
      const old = nodes[n] as Node
      const survivors = nodes.filter((node) => node !== old)
      const rejoinsBefore = (await status()).rejoins
      const stoppedAt = Date.now()
      await old.stop()
      const replacement = await startNode(setup.drain, prefix)
      nodes[n] = replacement
      balancer.add(replacement.port)
      balancer.remove(old.port)
      await waitFor(status, (now) => now.connected === CLIENTS && now.rejoins > rejoinsBefore, 'every client back')
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
    await connectedSender.say(ROOM, 'end')
    const end = await waitFor(status, (now) => now.heardEnd === CLIENTS, 'the last message everywhere')
    const complete = await Promise.all(processes.map(async (clients) => (await clients.ask<{ complete: number }>({ complete: end.lastOffset })).complete))
    return { restarts, complete: complete.reduce((sum, n) => sum + n, 0), rejoins: end.rejoins }
  } finally {
    control.saying = false
    sender?.disconnect()
    await Promise.all(processes.map(async (clients) => await clients.stop()))
    await balancer.close()
    await Promise.all(nodes.map(async (node) => await node.stop()))
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
    `in one room, spread over ${CLIENT_PROCESSES} client processes, a sender saying in it every 500 ms. Each node in turn gets SIGTERM ` +
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
