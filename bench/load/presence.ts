/**
 * Presence (issue 22): join/leave churn in a room of 5,000 members, with presence and without. Every
 * member is in both of the plugin's rooms, `ROOM` (no presence) and `PRESENCE_ROOM` (where the members
 * are 100 people of 50 tabs, bench/servers/plugin.ts); one more client, a visitor of its own, joins and
 * leaves each of them `CHANGES` times. In the presence room each change is told to the 5,000
 * members, and the time runs until all have it. Figures: the server's CPU per change in each room, and
 * the median time until a presence change reached every member.
 */
import { CLIENTS } from '../clients/index.js'
import { PRESENCE_ROOM, ROOM } from '../config.js'
import { median } from '../stats.js'
import { connectMany, connectOne, measureWindow, type Scenario } from './scenario.js'
import { within } from './time.js'

export const MEMBERS = 5000
/** Joins and leaves measured per room (half of each), after one of each that warms the server up. */
export const CHANGES = 20
const CHANGE_TIMEOUT = 15_000

/** Counts the presence changes the members hear; `expect(n)` resolves once `n` more came. */
class Heard {
  #count = 0
  #wanted = Infinity
  #reached = (): void => {}

  readonly onPresence = (): void => {
    if (++this.#count === this.#wanted) this.#reached()
  }

  expect (changes: number): Promise<void> {
    this.#wanted = this.#count + changes
    return new Promise((resolve) => { this.#reached = resolve })
  }
}

export const presence: Scenario = async (server, connect, { target }) => {
  const heard = new Heard()
  await connectMany(connect, server.url, MEMBERS, { onPresence: heard.onPresence }, async (member) => {
    await member.join(ROOM)
    await member.join(PRESENCE_ROOM)
  })
  // A visitor of its own (its fingerprint is its presence key): each of its joins and leaves is a change.
  const churner = await connectOne(CLIENTS[target]({ cookie: 'sessionID=bench-churner' }), server.url, {})
  const leave = churner.leave
  if (leave === undefined) throw new Error('the presence scenario needs a client that can leave a room')
  /** One change of `room` by the churner: the time until its reply, and until `heardBy` members heard it. */
  const change = async (request: () => Promise<void>, room: string, heardBy: number): Promise<number> => {
    const all = heardBy === 0 ? Promise.resolve() : heard.expect(heardBy)
    const start = performance.now()
    await within(CHANGE_TIMEOUT, `a change of ${room} reaching ${heardBy} members`, Promise.all([request(), all]))
    return performance.now() - start
  }
  /** A join then a leave of `room`. */
  const cycle = async (room: string, heardBy: number): Promise<number[]> => [
    await change(() => churner.join(room), room, heardBy),
    await change(() => leave.call(churner, room), room, heardBy)
  ]
  await cycle(ROOM, 0)
  await cycle(PRESENCE_ROOM, MEMBERS)
  const plain = await measureWindow(server, async () => {
    for (let i = 0; i < CHANGES / 2; i++) await cycle(ROOM, 0)
  })
  const times: number[] = []
  const withPresence = await measureWindow(server, async () => {
    for (let i = 0; i < CHANGES / 2; i++) times.push(...await cycle(PRESENCE_ROOM, MEMBERS))
  })
  return {
    plainCpuUs: plain.serverCpuUs / CHANGES,
    presenceCpuUs: withPresence.serverCpuUs / CHANGES,
    deliveryMs: median(times),
    otherCpuPercent: Math.max(plain.otherCpuPercent, withPresence.otherCpuPercent)
  }
}
