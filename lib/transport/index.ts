/**
 * The one path between a connection and its socket: how a frame reaches the client and how one
 * arrives, directly or through Primus, on every transformer. `Connection` writes through its wire,
 * and nothing else writes to a socket.
 *
 * The contract, and what it relies on (each pinned by test/transport.test.ts unless said otherwise):
 * - On the default setup (`server.transformer: 'websockets'`, parser JSON) the transformer is the
 *   plugin's own (websockets.ts), made with Primus's public `Primus.Transformer.extend`: it owns the
 *   upgrade callback and the `ws` socket's `message` listener, so nothing of Primus's is removed or
 *   re-called. Its `ws` is the plugin's own dependency (any 8.x): whatever `ws` the app or Primus
 *   has does not matter. When it cannot be made (the plugin's `ws` is not 8, or Primus's websockets
 *   client is not where Primus keeps it), the boot logs once why, and Primus's own transformer
 *   carries every message through Primus.
 * - The direct path: while nothing else observes, a frame that is a JSON object goes from the socket
 *   to the connection without Primus's decoder and events, and a message goes from the connection to
 *   the socket without Primus's encoder (one Buffer for every member of a broadcast). Observing is what
 *   Primus documents: a message transformer (`primus.transform`), or a listener on the spark's `data`,
 *   `incoming::data` or `outgoing::data` (`incoming::pong`/`outgoing::ping` for the heartbeat). The
 *   rule: a spark's listener count of each, as Primus's own initialiser leaves it, is taken from the
 *   spark itself when it is created (an initialiser registered right after Primus's, before any
 *   plugin's); a listener beyond that and beyond the plugin's own observes, whoever added it (an app,
 *   a Primus plugin in `connection` or in its own spark initialiser). From the next message on, the
 *   message goes through Primus; when the listener goes, the direct path comes back. A parser other
 *   than JSON sends everything through Primus.
 * - The heartbeat's per-spark policy stays Primus's (`spark.heartbeat` is writable for such policies):
 *   on the direct path the ping of a round is encoded once and written to each socket, and a pong marks
 *   its spark alive without the decoder; a spark that missed its pong is ended by Primus's own heartbeat.
 *   Its rounds are the plugin's, in slices that yield to other work, on every transformer (heartbeat.ts).
 * - The welcome is written as the upgrade completes, in the same TCP write as the 101 answer (ws
 *   completes it synchronously; the socket is corked around it); through Primus when something would
 *   observe it, or on any other transformer, when Primus announces the connection.
 * - What arrives before Primus announces the connection (one tick) is read, in order, when it does.
 * - Bounds, on every transformer: `maxBufferedBytes` counts what waits for the client, wherever its
 *   transformer queues it (transformers.ts), and cuts the connection past it; a message over
 *   `server.maxLength` closes its connection (1009 on a WebSocket, else the connection is ended), never
 *   reaching the plugin; an HTTP body is bounded before it is read (`maxBodyBytes`, socket-route.ts).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Connection } from '../connection.js'
import type { Metrics } from '../observability/metrics.js'
import type { ResolvedOptions } from '../options.js'
import { createPrimus, primusHeartbeat, type PrimusServer, type Spark } from '../primus.js'
import { HeartbeatSchedule } from './heartbeat.js'
import { GENERIC_ADAPTER, sizeOf, TRANSFORMER_ADAPTERS, type Queue, type TransformerAdapter } from './transformers.js'
import { DirectWire, directHeartbeats, webSocketsTransformer, type DirectEnvironment } from './websockets.js'
import { BaseWire, type Wire, type WireEnvironment } from './wire.js'

export type { Wire } from './wire.js'

/** Room around a message of `maxLength` in an HTTP body: the batch's framing, other messages. */
export const BODY_FRAMING = 64 * 1024
/**
 * A queue that is not cheap to read is read every `maxBufferedBytes / SAMPLES` bytes written: a reader
 * that does not read is cut at most that much past the bound.
 */
const SAMPLES = 16

export interface TransportOptions {
  readonly server: ResolvedOptions['server']
  readonly maxBufferedBytes: number
  /** The welcome every connection gets first; null: none. */
  readonly greeting: { readonly message: object, readonly frame: Buffer } | null
  readonly log: FastifyBaseLogger
  readonly metrics: Metrics
  /** Hands a message that arrived (undefined: one Primus could not decode) to its connection. */
  readonly receive: (connection: Connection, message: unknown) => void
}

function letThrough (_request: unknown, done: () => void): void {
  done()
}

/** A wire through Primus, for every transformer but the plugin's own. */
class PrimusWire extends BaseWire {
  readonly #queue: Queue
  readonly #unmeasured: () => void
  /** Bytes handed to the transformer so far, and when its queue was last read (see `Queue.cheap`). */
  #written = 0
  #checkedAt = 0

  constructor (spark: Spark, queue: Queue, environment: WireEnvironment, unmeasured: () => void) {
    super(spark, environment)
    this.#queue = queue
    this.#unmeasured = unmeasured
  }

  /** The transformer was handed `data`: what waits is checked (a queue that is not cheap to read, every so many bytes). */
  wrote (data: unknown): void {
    this.environment.metrics.bytesSent(data)
    this.#written += sizeOf(data)
    if (!this.#queue.cheap && this.#written - this.#checkedAt < this.environment.maxBufferedBytes / SAMPLES) return
    this.#checkedAt = this.#written
    this.check()
  }

  get bufferedBytes (): number {
    const bytes = this.#queue.bytes()
    if (bytes !== null) return bytes
    this.#unmeasured()
    return 0
  }

  protected get drains (): Queue['drains'] {
    return this.#queue.drains
  }

  get lingers (): boolean {
    return this.#queue.lingers
  }

  write (frame: string | Buffer, message?: object): boolean {
    if (this.closed) return false
    this.environment.metrics.messageSent(message)
    // Primus's transformers, its parser's encoder and every outgoing::data listener see it; so does the byte count.
    return this.spark.write(message ?? JSON.parse(String(frame)))
  }

  terminate (): void {
    this.#queue.terminate()
  }
}

export class Transport {
  readonly #options: TransportOptions
  readonly #wires = new WeakMap<Spark, BaseWire>()
  readonly #environment: DirectEnvironment
  readonly #sparkListeners: SparkListeners
  /** The adapter of a transformer other than the plugin's own; null: the plugin's own. */
  #adapter: TransformerAdapter | null = null
  #unmeasuredLogged = false
  /** The heartbeat's rounds, once Primus is made; null: Primus's own (or none). */
  #heartbeat: HeartbeatSchedule | null = null

  constructor (options: TransportOptions) {
    this.#options = options
    const { log, receive, metrics } = options
    const parser = options.server.parser
    this.#environment = {
      maxBufferedBytes: options.maxBufferedBytes,
      metrics,
      onOverflow: (spark, buffered) => {
        metrics.slowReaderCut()
        log.warn({ connection: spark.id, buffered }, 'fastify-actionhero-ws: disconnecting a connection that does not read its messages')
      },
      direct: typeof parser === 'string' && parser.toLowerCase() === 'json',
      greeting: options.greeting?.frame ?? null,
      adopt: (spark, wire) => { this.#wires.set(spark, wire) },
      wireOf: (spark) => this.#wires.get(spark),
      receive: (wire, message) => {
        if (wire.connection !== null) receive(wire.connection, message)
      }
    }
    this.#sparkListeners = sparkListeners(this.#wires, options)
  }

  /** The largest HTTP body a request under the socket's path may announce (socket-route.ts). */
  get maxBodyBytes (): number {
    const factor = this.#adapter?.bodyFactor ?? 1
    return factor * this.#options.server.maxLength + BODY_FRAMING
  }

  /** Creates the Primus server of the socket at `pathname` (the full path), on the transformer the options name. */
  createPrimus (pathname: string): PrimusServer {
    const { server, log } = this.#options
    let transformer: unknown = server.transformer
    const name = typeof transformer === 'string' ? transformer.toLowerCase() : null
    if (name === 'websockets') {
      const own = webSocketsTransformer(this.#environment)
      if (typeof own === 'string') {
        log.warn(`fastify-actionhero-ws: the direct socket path is off, every message goes through Primus: ${own}`)
        this.#adapter = GENERIC_ADAPTER
      } else {
        transformer = own
      }
    } else {
      this.#adapter = (name === null ? undefined : TRANSFORMER_ADAPTERS[name]) ?? GENERIC_ADAPTER
      if (this.#adapter === GENERIC_ADAPTER) {
        log.info('fastify-actionhero-ws: a custom transformer: maxBufferedBytes counts what its socket reports as bufferedAmount, or its TCP socket holds')
      }
    }
    // The gate has decided before Primus sees a request; the pass-through `authorization` tells the
    // client library that a failed handshake may be a refusal, so that it stops instead of retrying.
    const primus = createPrimus({ ...server, transformer, pathname, authorization: letThrough })
    const adapter = this.#adapter
    if (adapter !== null) {
      // Every spark gets its wire as it is created, before the transformer hands it a message: an
      // initialiser, registered before any Primus plugin's.
      const transport = this
      primus.Spark.prototype.initialise = function (this: Spark) { transport.#createWire(this, adapter) }
    }
    const heartbeat = new HeartbeatSchedule(primus, {
      onDead: (spark) => { this.#wires.get(spark)?.terminate() },
      endsDead: (policy) => policy === primusHeartbeat || directHeartbeats.has(policy)
    })
    if (heartbeat.start()) this.#heartbeat = heartbeat
    else if (typeof primus.options.pingInterval === 'number' && primus.options.pingInterval > 0) {
      log.warn('fastify-actionhero-ws: Primus\'s heartbeat timer was not found where this version keeps it: its own round pings every connection at once')
    }
    return primus
  }

  /** Stops the heartbeat: nothing of the transport's keeps running. */
  close (): void {
    this.#heartbeat?.stop()
  }

  #createWire (spark: Spark, adapter: TransformerAdapter): void {
    const queue = adapter.queue(spark)
    this.#wires.set(spark, new PrimusWire(spark, queue, this.#environment, this.#unmeasured))
    // A message over maxLength (which a long-polling transformer does not bound) closes the connection
    // before Primus decodes it for anyone: first, before Primus's decoder.
    spark.prependListener('incoming::data', this.#sparkListeners.incomingData)
  }

  /** The wire of a spark Primus announced; its connection is made with it, then `attach`ed. */
  wire (spark: Spark): Wire | undefined {
    return this.#wires.get(spark)
  }

  /** Starts delivering a spark's messages to its connection, and greets it unless its transformer already did. */
  attach (spark: Spark, connection: Connection): void {
    const wire = this.#wires.get(spark)
    if (wire === undefined) return
    wire.connection = connection
    spark.on('data', this.#sparkListeners.data)
    spark.on('error', this.#sparkListeners.error)
    const greeting = this.#options.greeting
    if (wire instanceof DirectWire) {
      wire.attach()
      if (wire.greeted) return
    } else {
      // After the transformer's own writer (added once the spark was made): what it sent is counted.
      spark.on('outgoing::data', this.#sparkListeners.outgoingData)
    }
    if (greeting !== null) wire.write(greeting.frame, greeting.message)
  }

  readonly #unmeasured = (): void => {
    if (this.#unmeasuredLogged) return
    this.#unmeasuredLogged = true
    this.#options.log.warn(`fastify-actionhero-ws: maxBufferedBytes is not enforced: the ${String(this.#options.server.transformer)} transformer's queue was not found where this version keeps it`)
  }
}

interface SparkListeners {
  data: (this: Spark, message: unknown) => void
  error: (this: Spark, error: Error) => void
  incomingData: (this: Spark, raw: unknown) => void
  outgoingData: (this: Spark, data: unknown) => void
}

/** The listeners every spark of one server shares (`this` is the spark): a connection costs no closure of its own. */
function sparkListeners (wires: WeakMap<Spark, BaseWire>, { log, receive, metrics, server: { maxLength } }: TransportOptions): SparkListeners {
  return {
    // Messages Primus decoded (before the connection event, or while something else observes them).
    data (this: Spark, message: unknown): void {
      const wire = wires.get(this)
      if (wire?.connection != null && !wire.closed) receive(wire.connection, message)
    },
    error (this: Spark, error: Error): void {
      const connection = wires.get(this)?.connection
      if (connection == null) return
      // Primus reports a frame it could not decode as an error and drops it; the client gets an answer.
      if (error.name === 'ParserError' && error.message.startsWith('Failed to decode')) receive(connection, undefined)
      else log.debug({ err: error, connection: connection.id }, 'fastify-actionhero-ws: connection error')
    },
    incomingData (this: Spark, raw: unknown): void {
      if (metrics.enabled) metrics.bytesReceived(raw)
      if (!isLongerThan(raw, maxLength)) return
      const wire = wires.get(this)
      if (wire === undefined || wire.closed) return
      log.info({ connection: this.id, maxLength }, 'fastify-actionhero-ws: closing a connection that sent a message over server.maxLength')
      wire.terminate()
      this.end(undefined, { reconnect: true })
    },
    // Whatever Primus writes (the plugin's messages, its own answers, heartbeats) counts against maxBufferedBytes.
    outgoingData (this: Spark, data: unknown): void {
      const wire = wires.get(this)
      if (wire instanceof PrimusWire) wire.wrote(data)
    }
  }
}

/** Whether a message, as a transformer received it, is over `maxLength` bytes. */
function isLongerThan (raw: unknown, maxLength: number): boolean {
  if (typeof raw === 'string') return raw.length > maxLength || (raw.length * 3 > maxLength && Buffer.byteLength(raw) > maxLength)
  if (Buffer.isBuffer(raw)) return raw.length > maxLength
  return false
}
