/**
 * The heartbeat's schedule: Primus's rounds, in slices that never hold the event loop for long.
 *
 * The contract:
 * - Every `pingInterval` a round calls `spark.heartbeat()` (Primus's per-spark policy, writable by
 *   design: the direct path's or an app's own) once on every open spark, as Primus's round does; so a
 *   spark that did not answer its last ping by its next one is ended, by that policy, as in Primus.
 * - A round walks its sparks evenly over a quarter of `pingInterval` (`SPREAD_SHARE`), in slices of
 *   at most `SLICE_MS` of work: a slice that is ahead of the pace waits on a timer for the next spark
 *   due, one that is behind yields with `setImmediate`. I/O and timers that arrive during a round run
 *   between slices, and the round's writes (~45 us a spark: 0.45 s of CPU for 10,000) never crowd a
 *   busy loop into a backlog: they take a few % of a core while the round lasts. The CPU is the same.
 * - A spark is pinged at most `pingInterval` + the spread + what a busy loop adds after its last ping
 *   (its place in the walk moves only as sparks before it leave): inside the client's ping timeout,
 *   which Primus sets to 1.5 `pingInterval`. A round still running when the next is due is followed by
 *   it at once: rounds never overlap and none is skipped.
 * - A spark that missed its pong, under Primus's own policy or the direct path's (which end it), is
 *   first cut by `onDead` (its transformer's socket terminated): a dead client is not owed a closing
 *   handshake or a last poll, which transformers otherwise wait 30 s for. A policy of the app's own decides alone.
 * - A closed spark is never pinged: sparks leave the schedule as Primus announces their end, and one
 *   found closed is skipped. The schedule holds only open sparks.
 * - Primus keeps its timer (`primus.heartbeatInterval`, not public) only for its own synchronous round:
 *   the schedule clears it and takes over. Where it is not found (another Primus), Primus's own round
 *   stays in charge, unchanged, and `start` says so. `stop` (at `close()`) leaves no timer or immediate.
 * - The client's ping timeout is untouched: Primus still has its `pingInterval`, and writes it into the
 *   client library and `/spec`.
 */
import type { PrimusServer, Spark } from '../primus.js'
import { SPARK_CLOSED } from '../primus.js'

/** The most work a slice of a round does before it yields, in ms: "a few ms" of stall at most. */
export const SLICE_MS = 2

/** The share of `pingInterval` a round's pings are spread over. */
export const SPREAD_SHARE = 0.25

/** The shortest wait between two slices of a round ahead of its pace, in ms: a timer per spark would cost more than the spread saves. */
const MIN_WAIT_MS = 10

/** What the schedule needs of Primus: its sparks' comings and goings, its interval and its timer. */
type HeartbeatPrimus = Pick<PrimusServer, 'options' | 'on' | 'removeListener'> & { heartbeatInterval?: unknown }

export class HeartbeatSchedule {
  readonly #primus: HeartbeatPrimus
  /** Open sparks, in the order they connected: a round walks them with a live iterator. */
  readonly #sparks = new Set<Spark>()
  #timer: NodeJS.Timeout | null = null
  #slice: NodeJS.Immediate | null = null
  /** The wait of a round ahead of its pace. */
  #wait: NodeJS.Timeout | null = null
  /** The round under way: what is left of it, when it began, how many sparks it had then and has visited. */
  #round: Iterator<Spark> | null = null
  #roundStart = 0
  #roundSize = 0
  #visited = 0
  /** How long a round's pings are spread over, in ms. */
  #spread = 0
  /** A round came due while one was still running. */
  #due = false

  readonly #onDead: (spark: Spark) => void
  readonly #endsDead: (policy: Spark['heartbeat']) => boolean

  /**
   * `onDead` cuts a spark that missed its pong before its policy ends it, when `endsDead` says that
   * policy is one known to end such a spark.
   */
  constructor (primus: PrimusServer, { onDead = () => {}, endsDead = () => false }: { onDead?: (spark: Spark) => void, endsDead?: (policy: Spark['heartbeat']) => boolean } = {}) {
    this.#primus = primus as HeartbeatPrimus
    this.#onDead = onDead
    this.#endsDead = endsDead
  }

  /**
   * Takes over Primus's heartbeat. False, having changed nothing, when Primus pings no one (no
   * `pingInterval`) or its timer is not where this version keeps it (Primus's own round goes on).
   */
  start (): boolean {
    const primus = this.#primus
    const interval = primus.options.pingInterval
    if (typeof interval !== 'number' || interval <= 0 || !isTimer(primus.heartbeatInterval)) return false
    clearInterval(primus.heartbeatInterval)
    this.#spread = interval * SPREAD_SHARE
    primus.on('connection', this.#add)
    primus.on('disconnection', this.#remove)
    // Referenced, as Primus's was: `stop` (at close) is what lets the process go.
    this.#timer = setInterval(this.#roundDue, interval)
    return true
  }

  /** Stops pinging: no timer, no slice, no listener on Primus is left. */
  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    if (this.#slice !== null) clearImmediate(this.#slice)
    if (this.#wait !== null) clearTimeout(this.#wait)
    this.#timer = null
    this.#slice = null
    this.#wait = null
    this.#round = null
    this.#due = false
    this.#primus.removeListener('connection', this.#add)
    this.#primus.removeListener('disconnection', this.#remove)
    this.#sparks.clear()
  }

  readonly #add = (spark: Spark): void => {
    // A 'connection' listener before this one may already have ended it.
    if (spark.readyState !== SPARK_CLOSED) this.#sparks.add(spark)
  }

  readonly #remove = (spark: Spark): void => {
    this.#sparks.delete(spark)
  }

  readonly #roundDue = (): void => {
    if (this.#round !== null) {
      this.#due = true
      return
    }
    // A Set's iterator is live: sparks that leave during the round are not visited, those that join are.
    this.#round = this.#sparks.values()
    this.#roundStart = performance.now()
    this.#roundSize = this.#sparks.size
    this.#visited = 0
    this.#runSlice()
  }

  readonly #runSlice = (): void => {
    this.#slice = null
    this.#wait = null
    const round = this.#round
    if (round === null) return
    const now = performance.now()
    const until = now + SLICE_MS
    // How many sparks the pace has due by now (more than the round's size once the spread is over).
    const due = this.#roundSize === 0 ? Infinity : this.#roundSize * (now - this.#roundStart) / this.#spread
    // Undefined: the round is ahead of its pace, and waits.
    let next = this.#visited < due ? round.next() : undefined
    while (next !== undefined && next.done !== true) {
      this.#visited++
      const spark = next.value
      if (spark.readyState === SPARK_CLOSED) {
        this.#sparks.delete(spark)
      } else {
        if (!spark.alive && this.#endsDead(spark.heartbeat)) this.#onDead(spark)
        spark.heartbeat()
      }
      if (performance.now() >= until) {
        this.#slice = setImmediate(this.#runSlice)
        return
      }
      next = this.#visited < due ? round.next() : undefined
    }
    if (next === undefined) {
      const nextDue = this.#roundStart + (this.#visited + 1) * this.#spread / this.#roundSize
      this.#wait = setTimeout(this.#runSlice, Math.max(MIN_WAIT_MS, nextDue - performance.now()))
      return
    }
    this.#round = null
    if (this.#due) {
      this.#due = false
      this.#roundDue()
    }
  }
}

function isTimer (value: unknown): value is NodeJS.Timeout {
  return typeof value === 'object' && value !== null && typeof (value as { hasRef?: unknown }).hasRef === 'function'
}
