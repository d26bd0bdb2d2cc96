/**
 * Warnings that a fault can repeat many times a second (a Redis outage, garbage on the bus): the first
 * of each topic is logged at once, then at most one per interval, counting those left out.
 */
import type { FastifyBaseLogger } from 'fastify'

export class ThrottledLog {
  readonly #log: FastifyBaseLogger
  readonly #interval: number
  /** Topic -> when it was last logged and how many were left out since. Bounded by the topics the code names. */
  readonly #topics = new Map<string, { at: number, suppressed: number }>()

  constructor (log: FastifyBaseLogger, interval = 10_000) {
    this.#log = log
    this.#interval = interval
  }

  warn (topic: string, details: Record<string, unknown>, message: string): void {
    const now = Date.now()
    const last = this.#topics.get(topic)
    if (last !== undefined && now - last.at < this.#interval) {
      last.suppressed++
      return
    }
    this.#topics.set(topic, { at: now, suppressed: 0 })
    this.#log.warn(last === undefined || last.suppressed === 0 ? details : { ...details, suppressed: last.suppressed }, message)
  }
}
