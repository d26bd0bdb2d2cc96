/**
 * (e) Chat: what users feel. 10,000 members in rooms of 100, each saying 150 B at Poisson times one
 * per 20 s on average (500 says/s, 49,500 deliveries/s), with each target's default heartbeat
 * running. The members live in `CHAT.loadProcesses` load processes (`chat-members.ts`), whole rooms
 * each; this driver starts them, opens a common measured window after the warm-up, and merges what
 * they measured: the latency of every delivery of a say sent in the window, the deliveries lost,
 * the server's CPU and event-loop delay, and the load processes' own, so that a tail the load made
 * shows.
 */
import { LoadProcess } from '../scale/load-process.js'
import { LatencyHistogram } from '../stats.js'
import { CHAT, chatJobTimeoutMs, monotonicMs, planChatRooms } from './chat-plan.js'
import type { ChatCommand, ChatReport } from './chat-members.js'
import { CONNECT_ALL_TIMEOUT, CONNECT_CONCURRENCY, measureWindow, type Scenario } from './scenario.js'
import { sleep } from './time.js'

const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
/**
 * How long the server may take to answer a question: a server far behind its deliveries answers late,
 * and its latencies, not a failed job, should say so.
 */
const SERVER_ANSWER_MS = 60_000
/** Time for every load process to get the `chat` command before the first say. */
const START_DELAY_MS = 500

export const chat: Scenario = async (server, _connect, job) => {
  const settings = job.chat ?? CHAT
  const plan = planChatRooms(settings)
  const script = new URL(`./chat-members${EXTENSION}`, import.meta.url)
  const loads = plan.map((_, index) => new LoadProcess<ChatCommand, ChatReport>(`chat load process ${index + 1}`, script))
  try {
    const concurrency = Math.ceil(CONNECT_CONCURRENCY / loads.length)
    await Promise.all(loads.map((load, index) => load.run({
      type: 'connect', target: job.target, url: server.url, rooms: plan[index] ?? [], roomSize: settings.roomSize, concurrency
    }, 'connected', CONNECT_ALL_TIMEOUT)))
    // The first question starts the server's event-loop monitor.
    await server.eventLoopDelay(SERVER_ANSWER_MS)
    const start = monotonicMs() + START_DELAY_MS
    const windowStart = start + settings.warmupMs
    const windowEnd = windowStart + settings.windowMs
    const reports = Promise.all(loads.map((load, index) =>
      load.run({ type: 'chat', settings, start, windowStart, windowEnd, seed: index + 1 }, 'chatted', chatJobTimeoutMs(settings))))
    reports.catch(() => {})
    await sleep(windowStart - monotonicMs())
    await server.eventLoopDelay(SERVER_ANSWER_MS)
    const window = await measureWindow(server, () => sleep(windowEnd - monotonicMs()), SERVER_ANSWER_MS)
    const serverLoop = await server.eventLoopDelay(SERVER_ANSWER_MS)
    const counts = (await reports).map(({ counts }) => counts)

    const latency = new LatencyHistogram()
    for (const { latency: histogram } of counts) latency.merge(histogram)
    const sum = (figure: (load: typeof counts[number]) => number): number => counts.reduce((total, load) => total + figure(load), 0)
    const delivered = sum((load) => load.delivered)
    const lost = sum((load) => load.expected) - delivered
    if (lost < 0) throw new Error(`${-lost} more deliveries than the says of the window could make`)
    if (delivered === 0) throw new Error('no say was delivered in the window')
    const percentOfCore = (us: number): number => us / (window.elapsedMs * 1000) * 100
    const membersCpu = percentOfCore(sum((load) => load.cpuUs))
    return {
      p50Ms: latency.percentile(0.5),
      p99Ms: latency.percentile(0.99),
      p999Ms: latency.percentile(0.999),
      maxMs: latency.maxMs,
      deliveries: delivered,
      lost,
      saysPerSecond: sum((load) => load.said) / (settings.windowMs / 1000),
      serverCpuPercent: percentOfCore(window.serverCpuUs),
      serverLoopMaxMs: serverLoop.maxMs,
      loadLoopP99Ms: Math.max(...counts.map((load) => load.eventLoop.p99Ms)),
      loadLoopMaxMs: Math.max(...counts.map((load) => load.eventLoop.maxMs)),
      loadCpuPercent: window.loadCpuPercent + membersCpu,
      // The member processes are load, not other work of the machine.
      otherCpuPercent: Math.max(0, window.otherCpuPercent - membersCpu)
    }
  } finally {
    await Promise.all(loads.map((load) => load.stop()))
  }
}
