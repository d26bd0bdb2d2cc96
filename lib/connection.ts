/**
 * One WebSocket connection: ActionHero's `connection` object, over a Primus spark.
 */
import type { WebSocket } from 'ws'
import type { ConnectionDetails } from '../types/protocol.js'
import { InvalidMessageError } from './errors.js'
import type { Handshake, HandshakeRequest } from './gate.js'
import { TEXT_FRAME } from './fast-path.js'
import { encodeJson } from './json.js'
import { isPlainObject } from './options.js'
import { SPARK_CLOSED, type Spark } from './primus.js'

/** What every connection of one server shares: kept once, not per connection. */
export interface ConnectionEnvironment {
  readonly maxBufferedBytes: number
  /** True while something besides the socket would see what is written to `spark` (fast-path.ts). */
  readonly writesObserved: (spark: Spark) => boolean
  readonly onOverflow: (connection: Connection, bufferedBytes: number) => void
}

/** Encodes a push from server code, refusing what is not a JSON object or cannot be encoded. */
export function encodePush (message: object): string {
  if (!isPlainObject(message)) throw new InvalidMessageError(Array.isArray(message) ? 'got an array' : `got ${typeof message}`)
  try {
    return encodeJson(message) as string
  } catch (error) {
    throw new InvalidMessageError(`it cannot be encoded as JSON (${(error as Error).message})`)
  }
}

const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({})
const WS_OPEN = 1
/** How often `drained` looks again when no 'drain' comes, in ms. */
const DRAIN_POLL = 50

export class Connection {
  readonly id: string
  readonly type = 'webSocket' as const
  readonly remoteIP: string
  readonly remotePort: number
  /** The fingerprint cookie sent with the handshake, or null. */
  readonly fingerprint: string | null
  readonly connectedAt: number
  /** The rooms this connection is in, in join order. */
  readonly rooms: string[] = []
  /** The params of the message being handled; each message starts from none. */
  params: Readonly<Record<string, unknown>> = NO_PARAMS
  totalActions = 0
  pendingActions = 0
  /** Requests of every event still being handled; `maxPendingRequests` bounds them. */
  pendingRequests = 0
  messageCount = 0
  /** The handshake request: headers, cookies, query, ip. */
  readonly handshake: HandshakeRequest
  /** What the `authorize` option returned for this connection's handshake. */
  readonly auth: unknown
  readonly #spark: Spark
  /** The `ws` socket under the spark, written directly (see fast-path.ts); null: through Primus. */
  readonly #socket: WebSocket | null
  readonly #environment: ConnectionEnvironment
  #overflowed = false

  /** @internal: the server creates connections. */
  constructor (spark: Spark, socket: WebSocket | null, handshake: Handshake, environment: ConnectionEnvironment) {
    this.id = spark.id
    this.remoteIP = handshake.request.ip
    this.remotePort = spark.request.socket.remotePort ?? 0
    this.fingerprint = handshake.request.fingerprint
    this.connectedAt = Date.now()
    this.handshake = handshake.request
    this.auth = handshake.auth
    this.#spark = spark
    this.#socket = socket
    this.#environment = environment
  }

  get open (): boolean {
    return this.#spark.readyState !== SPARK_CLOSED
  }

  /**
   * Sends `message` (a JSON object) as is: no `messageCount`, so it is never taken for a reply.
   * Returns false when the connection is already closed.
   */
  send (message: object): boolean {
    return this.write(encodePush(message), message)
  }

  /** Ends the connection and tells the client not to reconnect. */
  destroy (): void {
    this.#spark.end()
  }

  /** Drops the connection without a goodbye, so that the client reconnects (to this or another server). */
  drop (): void {
    this.#spark.end(undefined, { reconnect: true })
  }

  /** Counts a message that arrived and starts it from empty params; returns its `messageCount`. @internal */
  received (): number {
    this.params = NO_PARAMS
    return ++this.messageCount
  }

  details (): ConnectionDetails {
    return {
      id: this.id,
      fingerprint: this.fingerprint,
      remoteIP: this.remoteIP,
      remotePort: this.remotePort,
      params: this.params,
      connectedAt: this.connectedAt,
      rooms: this.rooms,
      totalActions: this.totalActions,
      pendingActions: this.pendingActions
    }
  }

  /**
   * Writes a message already encoded (a Buffer when it goes to many, so that it is encoded once for
   * all); `message` is the object, when the caller has it, for whatever observes messages as objects.
   * A reader that lets more than `maxBufferedBytes` pile up is disconnected.
   * @internal
   */
  write (data: string | Buffer, message?: object): boolean {
    const spark = this.#spark
    if (spark.readyState === SPARK_CLOSED) return false
    const socket = this.#socket
    if (socket === null || this.#environment.writesObserved(spark)) {
      // Through Primus: its transformers, its parser's encoder and every outgoing::data listener.
      return spark.write(message ?? JSON.parse(String(data)))
    }
    if (socket.readyState !== WS_OPEN) return false
    socket.send(data, TEXT_FRAME)
    this.checkBuffered()
    return true
  }

  /** How many bytes wait to be sent to the client (what its socket has not handed to the system yet). */
  get bufferedBytes (): number {
    return (this.#socket ?? this.#spark.socket)?.bufferedAmount ?? 0
  }

  /**
   * Resolves once at most `lowWater` bytes wait to be sent to the client, or the connection closed:
   * what writes much to one client (a history replay) waits for it to read.
   */
  async drained (lowWater: number): Promise<void> {
    const socket = this.#spark.request.socket
    while (this.open && !socket.destroyed && this.bufferedBytes > lowWater) {
      await new Promise<void>((resolve) => {
        // 'drain' comes only after a write the socket refused; the timer covers what ws still holds itself.
        const timer = setTimeout(done, DRAIN_POLL)
        function done (): void {
          clearTimeout(timer)
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }

  /** Disconnects the connection once more than `maxBufferedBytes` wait to be sent. @internal */
  checkBuffered (): void {
    const buffered = this.bufferedBytes
    if (buffered <= this.#environment.maxBufferedBytes || this.#overflowed) return
    // Held back by the handshake's cork (socket-route.ts) with the 101 answer, not by a slow reader.
    if (this.#spark.request.socket.writableCorked > 0) return
    this.#overflowed = true
    this.#environment.onOverflow(this, buffered)
  }

  /** Closes the socket at once, without the closing handshake (for readers that stopped reading). @internal */
  terminate (): void {
    const socket = this.#spark.socket
    if (socket?.terminate !== undefined) socket.terminate()
    else this.#spark.request.socket.destroy()
  }

  /**
   * The TCP socket under the connection, for shutdown to wait on: the handshake's, when it was a
   * WebSocket upgrade. A long-polling handshake's socket is an HTTP keep-alive one that the connection
   * does not own (Fastify closes it): null. @internal
   */
  get rawSocket (): Spark['request']['socket'] | null {
    const { request } = this.#spark
    return request.headers.upgrade?.toLowerCase() === 'websocket' ? request.socket : null
  }
}
