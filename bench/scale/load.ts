/**
 * A load process of `npm run bench:scale`: it holds its share of a population (from one loopback
 * source address) and does what the orchestrator asks over IPC, one phase at a time: open the
 * connections, join the room, expect a say, say. It exits with its orchestrator, so it cannot
 * outlive a run; its sockets close with it.
 */
import type { BenchClient } from '../clients/client.js'
import { CLIENTS } from '../clients/index.js'
import { ROOM, type TargetName } from '../config.js'
import { connectOne, repeatConcurrently } from '../load/scenario.js'
import { Deliveries, joinRoom } from '../load/say.js'

/** From the orchestrator. */
export type LoadCommand =
  | { type: 'connect', target: TargetName, localAddress: string, servers: Array<{ url: string, count: number }>, concurrency: number }
  | { type: 'join' }
  /** Count the members of this process that hear `message`: all of them, but the sender if it is here. */
  | { type: 'expect', message: string, sender: boolean }
  /** The first connection of this process says `message`. */
  | { type: 'say', message: string }

/** To the orchestrator; times (`at`) are wall-clock milliseconds with a fraction, comparable across processes. */
export type LoadReport =
  | { type: 'connected' }
  | { type: 'joined' }
  | { type: 'expecting' }
  | { type: 'said', at: number }
  /** Every expected member here has `message`; `at` is when the last one had it, null when none was expected. */
  | { type: 'delivered', message: string, at: number | null }
  | { type: 'failed', error: string }

/** Now, on the machine's clock, to the microsecond: the same clock in every process. */
export function wallClock (): number {
  return performance.timeOrigin + performance.now()
}

const report = (message: LoadReport): void => { process.send?.(message) }
const fail = (error: unknown): void => {
  report({ type: 'failed', error: error instanceof Error ? error.message : String(error) })
}

const deliveries = new Deliveries()
const clients: BenchClient[] = []
let concurrency = 1

async function handle (command: LoadCommand): Promise<void> {
  switch (command.type) {
    case 'connect': {
      concurrency = command.concurrency
      const connect = CLIENTS[command.target]({ localAddress: command.localAddress })
      // Interleaved, so that every server's population grows at the same pace.
      const urls: string[] = []
      const most = Math.max(...command.servers.map(({ count }) => count))
      for (let round = 0; round < most; round++) {
        for (const { url, count } of command.servers) if (round < count) urls.push(url)
      }
      let next = 0
      await repeatConcurrently(urls.length, concurrency, async () => {
        clients.push(await connectOne(connect, urls[next++] as string, { onSay: deliveries.onSay }))
      })
      report({ type: 'connected' })
      break
    }
    case 'join': {
      let next = 0
      await repeatConcurrently(clients.length, concurrency, () => joinRoom(clients[next++] as BenchClient))
      report({ type: 'joined' })
      break
    }
    case 'expect': {
      const delivered = deliveries.expect(command.message, clients.length - (command.sender ? 1 : 0))
      report({ type: 'expecting' })
      await delivered
      report({ type: 'delivered', message: command.message, at: clients.length > (command.sender ? 1 : 0) ? wallClock() : null })
      break
    }
    case 'say': {
      const sender = clients[0]
      if (sender === undefined) throw new Error('no connection to say anything')
      const at = wallClock()
      sender.say(ROOM, command.message)
      report({ type: 'said', at })
      break
    }
  }
}

process.on('message', (command: LoadCommand) => { handle(command).catch(fail) })
// A client library that throws from its own event handler fails the measurement, not silently.
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
process.on('disconnect', () => process.exit(0))
