/**
 * One connection's way to its socket, whatever the transformer (see index.ts for the contract): what
 * every wire shares is the bound on what waits for the client (`maxBufferedBytes`) and the wait for it
 * to fall (`drained`).
 */
import type { EventEmitter } from 'node:events'
import type { Connection } from '../connection.js'
import type { Metrics } from '../observability/metrics.js'
import { SPARK_CLOSED, type Spark } from '../primus.js'

/** What a connection asks of its wire. */
export interface Wire {
  /** Bytes queued for this client and not yet sent, as far as its transformer tells (index.ts). */
  readonly bufferedBytes: number
  /**
   * Writes a message already encoded (a Buffer when it goes to many); `message` is the object, when the
   * caller has it, for whatever observes messages through Primus. False when the connection is closed.
   */
  write (frame: string | Buffer, message?: object): boolean
  /** Resolves once at most `lowWater` bytes are queued, or the connection closed. */
  drained (lowWater: number): Promise<void>
  /** Closes the connection at once, without waiting for what is queued. */
  terminate (): void
  /** Whether a long-polling session outlives the connection's end (transformers.ts `Queue.lingers`). */
  readonly lingers: boolean
}

/** What every wire of one server shares. */
export interface WireEnvironment {
  readonly maxBufferedBytes: number
  /** A connection let more than `maxBufferedBytes` wait: it is being terminated. */
  readonly onOverflow: (spark: Spark, bufferedBytes: number) => void
  readonly metrics: Metrics
}

interface Waiter {
  readonly lowWater: number
  readonly resolve: () => void
}

/** How often a wire asks again how much is queued, while someone waits (besides its transformer's events). */
const DRAIN_POLL_MS = 25

export abstract class BaseWire implements Wire {
  readonly spark: Spark
  /** The connection this wire belongs to, once Primus announced it. */
  connection: Connection | null = null
  protected readonly environment: WireEnvironment
  #overflowed = false
  #waiters: Waiter[] | null = null
  /** Bound to this wire while someone waits (a closure only then, not one per connection). */
  #release: (() => void) | null = null
  #timer: NodeJS.Timeout | null = null

  constructor (spark: Spark, environment: WireEnvironment) {
    this.spark = spark
    this.environment = environment
  }

  abstract get bufferedBytes (): number
  abstract write (frame: string | Buffer, message?: object): boolean
  abstract terminate (): void
  abstract get lingers (): boolean
  /** What emits `drain` when the queue falls and `close` when it never will; null: none (the timer alone). */
  protected abstract get drains (): EventEmitter | null

  get closed (): boolean {
    return this.spark.readyState === SPARK_CLOSED
  }

  /** Terminates the connection once more than `maxBufferedBytes` wait for it. @internal */
  check (): void {
    if (this.#overflowed) return
    const buffered = this.bufferedBytes
    if (buffered <= this.environment.maxBufferedBytes) return
    this.#overflowed = true
    this.environment.onOverflow(this.spark, buffered)
    this.terminate()
    // Some transformers close later (a long-polling session waits for its next poll): the connection ends now.
    this.spark.end(undefined, { reconnect: true })
  }

  drained (lowWater: number): Promise<void> {
    if (this.closed || this.bufferedBytes <= lowWater) return Promise.resolve()
    return new Promise((resolve) => {
      if (this.#waiters === null) {
        this.#waiters = []
        this.#listen()
      }
      this.#waiters.push({ lowWater, resolve })
    })
  }

  /** Resolves the waiters whose low water is reached (all of them once the connection closed). */
  #releaseWaiters (): void {
    const waiters = this.#waiters
    if (waiters === null) return
    const closed = this.closed
    const buffered = closed ? 0 : this.bufferedBytes
    const waiting = waiters.filter((waiter) => {
      if (!closed && buffered > waiter.lowWater) return true
      waiter.resolve()
      return false
    })
    if (waiting.length > 0) {
      this.#waiters = waiting
      return
    }
    this.#waiters = null
    this.#unlisten()
  }

  #listen (): void {
    const release = this.#release = () => { this.#releaseWaiters() }
    // A stream emits 'drain' only after a write it refused; what it took below its high-water mark
    // leaves without one: the timer sees that, the events see the rest at once.
    this.#timer = setInterval(release, DRAIN_POLL_MS).unref()
    this.drains?.on('drain', release)
    this.drains?.on('close', release)
  }

  #unlisten (): void {
    const release = this.#release
    this.#release = null
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    if (release !== null) {
      this.drains?.removeListener('drain', release)
      this.drains?.removeListener('close', release)
    }
  }
}
