/**
 * What every scenario is, and what they share: opening many connections, a bounded number at a
 * time and each within a time limit.
 */
import { cpus } from 'node:os'
import type { Figures, Job } from '../config.js'
import type { BenchClient, ClientHandlers, ConnectClient } from '../clients/client.js'
import type { ServerProcess } from './server-process.js'
import { within } from './time.js'

/** One scenario: it drives `server` (of `job.target`) through clients made by `connect`, and measures. */
export type Scenario = (server: ServerProcess, connect: ConnectClient, job: Job) => Promise<Figures>

/** Connections opening at once: enough to keep the server busy, few enough not to time out. */
export const CONNECT_CONCURRENCY = 100
const CONNECT_TIMEOUT = 10_000
export const CONNECT_ALL_TIMEOUT = 90_000

/**
 * Runs `task` at most `count` times, `concurrency` at once, and starts no more once `stop()` is
 * true; resolves with how many ran. The first failure rejects.
 */
export async function repeatConcurrently (
  count: number, concurrency: number, task: () => Promise<void>, stop: () => boolean = () => false
): Promise<number> {
  let started = 0
  let finished = 0
  const worker = async (): Promise<void> => {
    while (started < count && !stop()) {
      started++
      await task()
      finished++
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return finished
}

export interface Window {
  elapsedMs: number
  /** The server's CPU time (user + system) in the window, in microseconds. */
  serverCpuUs: number
  /** This load process's CPU time in the window, as a share of one core: near 100, the load set the pace. */
  loadCpuPercent: number
  /** The CPU time of every other process of the machine in the window, as a share of one core: the noise. */
  otherCpuPercent: number
}

/**
 * Runs `work` in a measured window. The window opens and closes when the server's CPU readings
 * arrive, so that the server's CPU time and what the load counts in `work` cover the same span;
 * `answerMs` bounds the wait for each reading (the server's default otherwise).
 */
export async function measureWindow (server: ServerProcess, work: () => Promise<void>, answerMs?: number): Promise<Window> {
  const cpuBefore = await server.cpuTime(answerMs)
  const loadBefore = process.cpuUsage()
  const machineBefore = machineCpuTime()
  const start = performance.now()
  await work()
  const cpuAfter = await server.cpuTime(answerMs)
  const elapsedMs = performance.now() - start
  const load = process.cpuUsage(loadBefore)
  const serverCpuUs = cpuAfter - cpuBefore
  const loadCpuUs = load.user + load.system
  const otherCpuUs = Math.max(0, machineCpuTime() - machineBefore - serverCpuUs - loadCpuUs)
  const percent = (us: number): number => us / (elapsedMs * 1000) * 100
  return { elapsedMs, serverCpuUs, loadCpuPercent: percent(loadCpuUs), otherCpuPercent: percent(otherCpuUs) }
}

/** The busy time of all the machine's cores so far, in microseconds (the kernel counts in ticks of 10 ms). */
function machineCpuTime (): number {
  return cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0) * 1000
}

/** Opens one connection, or fails once CONNECT_TIMEOUT has passed. */
export function connectOne (connect: ConnectClient, url: string, handlers: ClientHandlers): Promise<BenchClient> {
  return within(CONNECT_TIMEOUT, 'opening a connection', connect(url, handlers))
}

/** Opens `count` connections that share `handlers`, each followed by `setup` when given. */
export async function connectMany (
  connect: ConnectClient, url: string, count: number, handlers: ClientHandlers, setup?: (client: BenchClient) => Promise<void>
): Promise<BenchClient[]> {
  const clients: BenchClient[] = []
  const opening = repeatConcurrently(count, CONNECT_CONCURRENCY, async () => {
    const client = await connectOne(connect, url, handlers)
    await setup?.(client)
    clients.push(client)
  })
  await within(CONNECT_ALL_TIMEOUT, `opening ${count} connections`, opening)
  return clients
}
