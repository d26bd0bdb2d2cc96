/**
 * (b) One `say` to a room of `members`: the time until every other member has it, and the server's
 * CPU per broadcast. Every client joins the room; the first one says, the others count.
 */
import type { BenchClient } from '../clients/client.js'
import { ROOM } from '../config.js'
import { median } from '../stats.js'
import { connectMany, measureWindow, type Scenario } from './scenario.js'
import { within } from './time.js'

/** Broadcasts measured, after one that warms the server up. */
export const BROADCASTS = 5
const JOIN_TIMEOUT = 10_000
const DELIVERY_TIMEOUT = 15_000

/**
 * Times broadcasts: `onSay` goes into every member's handlers; `time(sender, n)` says a fresh
 * message and resolves how long it took until the `n` other members had it. `expect` alone serves
 * members whose sender is in another process (bench/scale).
 */
export class Deliveries {
  #expected = ''
  #received = 0
  #wanted = 0
  #allReceived = (): void => {}
  #count = 0

  readonly onSay = (message: string): void => {
    if (message === this.#expected && ++this.#received === this.#wanted) this.#allReceived()
  }

  /** Resolves once `receivers` members have heard `message` (at once when there are none). */
  expect (message: string, receivers: number): Promise<void> {
    this.#expected = message
    this.#received = 0
    this.#wanted = receivers
    if (receivers === 0) return Promise.resolve()
    return new Promise<void>((resolve) => { this.#allReceived = resolve })
  }

  async time (sender: BenchClient, receivers: number): Promise<number> {
    const message = `say ${++this.#count}`
    const delivered = this.expect(message, receivers)
    const start = performance.now()
    sender.say(ROOM, message)
    await within(DELIVERY_TIMEOUT, `${receivers} members receiving a say`, delivered)
    return performance.now() - start
  }
}

export function joinRoom (client: BenchClient): Promise<void> {
  return within(JOIN_TIMEOUT, `joining room ${ROOM}`, client.join(ROOM))
}

export function say (members: number): Scenario {
  return async (server, connect) => {
    const deliveries = new Deliveries()
    const clients = await connectMany(connect, server.url, members, { onSay: deliveries.onSay }, joinRoom)
    const sender = clients[0]
    if (sender === undefined) throw new Error('no member to say anything')
    await deliveries.time(sender, members - 1) // warm-up
    const times: number[] = []
    const window = await measureWindow(server, async () => {
      for (let i = 1; i <= BROADCASTS; i++) times.push(await deliveries.time(sender, members - 1))
    })
    return { deliveryMs: median(times), serverCpuMs: window.serverCpuUs / BROADCASTS / 1000, otherCpuPercent: window.otherCpuPercent }
  }
}
