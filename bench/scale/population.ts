/**
 * One measurement of `npm run bench:scale`: a population of connections to one target, held by its
 * server processes and spread over load processes, measured phase by phase:
 *
 * 1. grow: every load process opens its connections; handshakes per second and server CPU per handshake;
 * 2. hold: server memory after a full GC, per connection; then an idle window with the target's default
 *    heartbeat: server CPU; then another for the event-loop delay (its monitor would add to the CPU);
 * 3. say: every connection joins the room; one member says, and the time runs until every other member,
 *    in every load process, has it; server CPU per say.
 *
 * Every wait has a deadline that grows with the population; whatever happens, every process is stopped.
 */
import { ServerProcess } from '../load/server-process.js'
import { sleep } from '../load/time.js'
import type { ServerMemory } from '../servers/child.js'
import { median } from '../stats.js'
import { LoadProcess } from './load-process.js'
import { split, type LoadShare, type Population, type ScaleFigures, type ScaleSettings } from './plan.js'

/** A phase may take this long, plus PHASE_MS_PER_CONNECTION for every connection. */
const PHASE_BASE_MS = 30_000
const PHASE_MS_PER_CONNECTION = 5
/** A command answered at once (expect, say). */
const COMMAND_TIMEOUT = 10_000
/** How long the servers may take to count the last connections once every client has seen its own open. */
const SETTLE_TIMEOUT = 30_000
const SETTLE_POLL_MS = 200
const KB = 1024
const MB = 1024 * 1024

/** Where a cluster's servers meet: the `redis` option's `url` and `prefix`, as JSON in BENCH_REDIS. */
export interface RedisPlace {
  url: string
  prefix: string
}

/** Whatever is running, so that a Ctrl-C stops it. */
const running = new Set<ServerProcess | LoadProcess>()

/** Stops every process of the measurement under way. */
export async function stopEverything (): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()))
}

/** Measures `population`, its load spread as `shares` says (see `planLoads`). */
export async function measurePopulation (population: Population, shares: LoadShare[], settings: ScaleSettings, redis: RedisPlace | null): Promise<ScaleFigures> {
  const { target, connections } = population
  const phaseMs = PHASE_BASE_MS + connections * PHASE_MS_PER_CONNECTION
  const env: Record<string, string> = redis === null ? {} : { BENCH_REDIS: JSON.stringify(redis) }
  const servers: ServerProcess[] = []
  const loads = shares.map((_, index) => track(new LoadProcess(`load process ${index + 1}`)))
  try {
    servers.push(...await Promise.all(Array.from({ length: population.servers }, () => ServerProcess.start(target, env).then(track))))
    const before = await Promise.all(servers.map((server) => server.memory()))

    // 1. Grow.
    const concurrency = Math.max(1, Math.ceil(settings.connectConcurrency / loads.length))
    const growth = await measureCpu(servers, () => Promise.all(loads.map((load, index) => load.run({
      type: 'connect',
      target,
      localAddress: shares[index]?.localAddress ?? '127.0.0.1',
      servers: servers.map((server, s) => ({ url: server.url, count: shares[index]?.perServer[s] ?? 0 })),
      concurrency
    }, 'connected', phaseMs))))

    // 2. Hold.
    const after = await settle(servers, split(connections, population.servers))
    const idle = await measureCpu(servers, () => sleep(settings.idleWindowMs))
    // The monitors start only now: their timer costs CPU of its own (0.4% of a core at 10 ms).
    await Promise.all(servers.map((server) => server.eventLoopDelay()))
    await sleep(settings.eventLoopWindowMs)
    const loop = await Promise.all(servers.map((server) => server.eventLoopDelay()))

    // 3. Say.
    await Promise.all(loads.map((load) => load.run({ type: 'join' }, 'joined', phaseMs)))
    await sayToAll(loads, 'warm-up', phaseMs)
    const times: number[] = []
    const saying = await measureCpu(servers, async () => {
      for (let i = 1; i <= settings.broadcasts; i++) times.push(await sayToAll(loads, `say ${i}`, phaseMs))
    })

    const sum = (memories: ServerMemory[], key: 'rss' | 'heapUsed'): number => memories.reduce((total, memory) => total + memory[key], 0)
    const idleCpuPercent = idle.cpuUs / (idle.elapsedMs * 1000) * 100
    const sayCpuUs = saying.cpuUs / settings.broadcasts
    return {
      rssKB: (sum(after, 'rss') - sum(before, 'rss')) / connections / KB,
      heapKB: (sum(after, 'heapUsed') - sum(before, 'heapUsed')) / connections / KB,
      baseRssMB: sum(before, 'rss') / MB,
      idleCpuPercent,
      idleCpuPer10kPercent: idleCpuPercent / (connections / 10_000),
      loopP99Ms: Math.max(...loop.map(({ p99Ms }) => p99Ms)),
      loopMaxMs: Math.max(...loop.map(({ maxMs }) => maxMs)),
      handshakeRate: connections / (growth.elapsedMs / 1000),
      handshakeCpuUs: growth.cpuUs / connections,
      sayMs: median(times),
      sayCpuMs: sayCpuUs / 1000,
      sayCpuPerMemberUs: sayCpuUs / (connections - 1)
    }
  } finally {
    await Promise.all([...servers, ...loads].map(async (child) => {
      await child.stop()
      running.delete(child)
    }))
  }
}

function track<Child extends ServerProcess | LoadProcess> (child: Child): Child {
  running.add(child)
  return child
}

/** Runs `work`, and measures its time and the CPU time all `servers` spent meanwhile. */
async function measureCpu (servers: ServerProcess[], work: () => Promise<unknown>): Promise<{ elapsedMs: number, cpuUs: number }> {
  const cpuTime = async (): Promise<number> => (await Promise.all(servers.map((server) => server.cpuTime()))).reduce((a, b) => a + b, 0)
  const before = await cpuTime()
  const start = performance.now()
  await work()
  const elapsedMs = performance.now() - start
  return { elapsedMs, cpuUs: await cpuTime() - before }
}

/** Each server's memory after a full GC, once it holds its share of the population. */
async function settle (servers: ServerProcess[], shares: number[]): Promise<ServerMemory[]> {
  const deadline = performance.now() + SETTLE_TIMEOUT
  for (;;) {
    const memories = await Promise.all(servers.map((server) => server.memory()))
    if (memories.every((memory, index) => memory.connections >= (shares[index] ?? 0))) return memories
    if (performance.now() > deadline) {
      throw new Error(`the servers hold ${memories.map(({ connections }) => connections).join(' + ')} of ${shares.join(' + ')} connections`)
    }
    await sleep(SETTLE_POLL_MS)
  }
}

/**
 * The first connection of the first load process says `message`; resolves with the time from the
 * say until the last member, in whichever load process, had it (all on one wall clock).
 */
async function sayToAll (loads: LoadProcess[], message: string, ms: number): Promise<number> {
  const [sender] = loads
  if (sender === undefined) throw new Error('no load process')
  const delivered = loads.map((load) => load.next('delivered', ms))
  await Promise.all(loads.map((load) => load.run({ type: 'expect', message, sender: load === sender }, 'expecting', COMMAND_TIMEOUT)))
  const said = await sender.run({ type: 'say', message }, 'said', COMMAND_TIMEOUT)
  const last = Math.max(...(await Promise.all(delivered)).map(({ at }) => at ?? -Infinity))
  if (!Number.isFinite(last)) throw new Error('no member to hear the say')
  return last - said.at
}
