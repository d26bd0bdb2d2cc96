/**
 * A load process of the chat scenario: it holds whole rooms of members (lean clients, one socket
 * each), and on `chat` makes them speak on a Poisson schedule, stamping each message with its send
 * time on the machine's monotonic clock. It counts every delivery of a say sent in the measured
 * window, with its latency (receipt minus send time), until all have arrived or the drain time is
 * up, and reports them with its own CPU and event-loop delay over the window, so that a tail the
 * load made can be told from one the server made. It exits with its orchestrator.
 */
import type { BenchClient } from '../clients/client.js'
import { LEAN_CLIENTS } from '../clients/index.js'
import { chatRoom, type TargetName } from '../config.js'
import { readEventLoopDelay, startEventLoopMonitor, type EventLoopDelay } from '../event-loop.js'
import { LatencyHistogram, type HistogramCounts } from '../stats.js'
import { PoissonSchedule, chatMessage, monotonicMs, seededRandom, sentAtOf, type ChatSettings } from './chat-plan.js'
import { connectOne, repeatConcurrently } from './scenario.js'
import { sleep, within } from './time.js'

const JOIN_TIMEOUT = 10_000

/** From the chat driver. Times are `monotonicMs()`. */
export type ChatCommand =
  | { type: 'connect', target: TargetName, url: string, rooms: number[], roomSize: number, concurrency: number }
  /** Say from `start` until `windowEnd`; count the deliveries of what is said from `windowStart` on. */
  | { type: 'chat', settings: ChatSettings, start: number, windowStart: number, windowEnd: number, seed: number }

/** What one load process measured over the window. */
export interface ChatCounts {
  latency: HistogramCounts
  said: number
  /** Deliveries due for the says of the window: each reaches the others of its room. */
  expected: number
  delivered: number
  /** This process's CPU time (user + system) in the window, in microseconds. */
  cpuUs: number
  eventLoop: EventLoopDelay
}

export type ChatReport =
  | { type: 'connected' }
  | { type: 'chatted', counts: ChatCounts }
  | { type: 'failed', error: string }

const report = (message: ChatReport): void => { if (process.connected) process.send?.(message) }
const fail = (error: unknown): void => {
  report({ type: 'failed', error: error instanceof Error ? error.message : String(error) })
}

interface Member {
  client: BenchClient
  room: string
}

/** Each member's client and room, by member index. */
const members: Member[] = []
let roomSize = 0
const latency = new LatencyHistogram()
let windowStart = Infinity
let windowEnd = -Infinity
let said = 0
let delivered = 0
let expected = 0
let allDelivered = (): void => {}

/** A member heard a say: it counts if it was said in the window. */
function hear (message: string): void {
  const receivedAt = monotonicMs()
  const sentAt = sentAtOf(message)
  if (!(sentAt >= windowStart && sentAt < windowEnd)) return
  latency.record(receivedAt - sentAt)
  // Only the drain listens: until the window ends, `allDelivered` does nothing.
  if (++delivered === expected) allDelivered()
}

async function connect (command: Extract<ChatCommand, { type: 'connect' }>): Promise<void> {
  roomSize = command.roomSize
  const open = LEAN_CLIENTS[command.target]()
  const slots = command.rooms.flatMap((room) => Array.from({ length: command.roomSize }, () => chatRoom(room)))
  let next = 0
  await repeatConcurrently(slots.length, command.concurrency, async () => {
    // By slot, not by arrival: the seeded schedule then picks the same rooms in every run.
    const index = next++
    const room = slots[index] as string
    const client = await connectOne(open, command.url, { onSay: hear })
    await within(JOIN_TIMEOUT, `joining room ${room}`, client.join(room))
    members[index] = { client, room }
  })
  report({ type: 'connected' })
}

async function chat (command: Extract<ChatCommand, { type: 'chat' }>): Promise<void> {
  const { settings } = command
  windowStart = command.windowStart
  windowEnd = command.windowEnd
  await sleep(Math.max(0, command.start - monotonicMs()))
  const saying = sayUntilWindowEnd(new PoissonSchedule(members.length, settings.meanIntervalMs, command.start, seededRandom(command.seed)), settings)
  await sleep(Math.max(0, windowStart - monotonicMs()))
  const cpuAtStart = process.cpuUsage()
  const monitor = startEventLoopMonitor()
  await saying
  const cpu = process.cpuUsage(cpuAtStart)
  const eventLoop = readEventLoopDelay(monitor)
  monitor.disable()
  // The last deliveries: until every one has arrived, or the drain time is up (the rest are lost).
  if (delivered < expected) {
    const arrived = new Promise<void>((resolve) => { allDelivered = resolve })
    await Promise.race([arrived, sleep(settings.drainMs)])
  }
  report({ type: 'chatted', counts: { latency: latency.toJSON(), said, expected, delivered, cpuUs: cpu.user + cpu.system, eventLoop } })
}

/**
 * Sends each say when `schedule` has it due, until the window ends. A late timer sends every say it
 * is late for at once, so that the rate holds; each carries the time it really left.
 */
function sayUntilWindowEnd (schedule: PoissonSchedule, settings: ChatSettings): Promise<void> {
  return new Promise((resolve) => {
    const tick = (): void => {
      const now = monotonicMs()
      while (schedule.due <= now && schedule.due < windowEnd) {
        const { client, room } = members[schedule.take()] as Member
        const sentAt = monotonicMs()
        client.say(room, chatMessage(sentAt, settings.messageBytes))
        if (sentAt >= windowStart && sentAt < windowEnd) {
          said++
          expected += roomSize - 1
        }
      }
      if (schedule.due >= windowEnd) setTimeout(resolve, Math.max(0, windowEnd - monotonicMs()))
      else setTimeout(tick, Math.max(0, schedule.due - monotonicMs()))
    }
    tick()
  })
}

process.on('message', (command: ChatCommand) => {
  (command.type === 'connect' ? connect(command) : chat(command)).catch(fail)
})
// A client that throws from its own event handler fails the measurement, not silently.
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
process.on('disconnect', () => process.exit(0))
