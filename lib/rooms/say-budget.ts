/**
 * The sender pays: each connection's `say` has a budget in messages and in bytes per second, kept in
 * two token buckets that hold one second's worth (the most a sender may say at once). A say over
 * budget takes nothing from it and is refused before any of it reaches a receiver. Server broadcasts
 * are not budgeted.
 */
import type { Connection } from '../connection.js'

/** The `sayLimit` option: what one connection may say per second. */
export interface SayLimit {
  messages: number
  /** Counted as the message's JSON (its text, for a string message), in bytes. */
  bytes: number
}

/** A chat never says 20 messages or 1 MiB a second from one connection; a flood always does. */
export const DEFAULT_SAY_LIMIT: SayLimit = { messages: 20, bytes: 1024 * 1024 }

interface Buckets {
  messages: number
  bytes: number
  /** When they were last filled, in ms. */
  at: number
}

export class SayBudget {
  readonly #limit: SayLimit
  /** Per connection, gone with it. */
  readonly #buckets = new WeakMap<Connection, Buckets>()

  constructor (limit: SayLimit) {
    this.#limit = limit
  }

  /** Takes one message of `bytes` from the connection's budget; false, taking nothing, when it is over. */
  take (connection: Connection, bytes: number): boolean {
    const { messages: messageRate, bytes: byteRate } = this.#limit
    const now = performance.now()
    let buckets = this.#buckets.get(connection)
    if (buckets === undefined) this.#buckets.set(connection, buckets = { messages: messageRate, bytes: byteRate, at: now })
    const elapsed = (now - buckets.at) / 1000
    buckets.at = now
    buckets.messages = Math.min(messageRate, buckets.messages + elapsed * messageRate)
    buckets.bytes = Math.min(byteRate, buckets.bytes + elapsed * byteRate)
    if (buckets.messages < 1 || buckets.bytes < bytes) return false
    buckets.messages -= 1
    buckets.bytes -= bytes
    return true
  }
}
