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

export function say (members: number): Scenario {
  return async (server, connect) => {
    let expected = ''
    let received = 0
    let allReceived = (): void => {}
    const onSay = (message: string): void => {
      if (message === expected && ++received === members - 1) allReceived()
    }
    const join = (client: BenchClient): Promise<void> => within(JOIN_TIMEOUT, `joining room ${ROOM}`, client.join(ROOM))
    const clients = await connectMany(connect, server.url, members, { onSay }, join)

    const sender = clients[0]
    if (sender === undefined) throw new Error('no member to say anything')
    const broadcast = async (message: string): Promise<number> => {
      expected = message
      received = 0
      const delivered = new Promise<void>((resolve) => { allReceived = resolve })
      const start = performance.now()
      sender.say(ROOM, message)
      await within(DELIVERY_TIMEOUT, `${members - 1} members receiving a say`, delivered)
      return performance.now() - start
    }

    await broadcast('warm-up')
    const times: number[] = []
    const window = await measureWindow(server, async () => {
      for (let i = 1; i <= BROADCASTS; i++) times.push(await broadcast(`say ${i}`))
    })
    return { deliveryMs: median(times), serverCpuMs: window.serverCpuUs / BROADCASTS / 1000, otherCpuPercent: window.otherCpuPercent }
  }
}
