/**
 * One WebSocket connection: ActionHero's `connection` object, over a Primus spark.
 */
import type { ClosedMessage, ConnectionDetails } from '../types/protocol.js'
import type { Handshake, HandshakeRequest } from './gate.js'
import { encodeJson, encodePush } from './json.js'
import { SPARK_CLOSED, type Spark } from './primus.js'
import type { Wire } from './transport/index.js'

/** The expiry an `auth` carries: its `expiresAt`, when it is an object with a finite number there. */
function expiryOf (auth: unknown): number | null {
  const expiresAt = typeof auth === 'object' && auth !== null ? (auth as { expiresAt?: unknown }).expiresAt : undefined
  return typeof expiresAt === 'number' && Number.isFinite(expiresAt) ? expiresAt : null
}

const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({})

export class Connection {
  readonly id: string
  readonly type = 'webSocket' as const
  readonly remoteIP: string
  readonly remotePort: number
  /** The visitor's fingerprint from the handshake's cookie (its id when `fingerprint.secret` signs it), or null. */
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
  readonly #spark: Spark
  /** The one way to the socket (lib/transport). */
  readonly #wire: Wire
  #auth: unknown

  /** @internal: the server creates connections. */
  constructor (spark: Spark, wire: Wire, handshake: Handshake) {
    this.id = spark.id
    this.remoteIP = handshake.request.ip
    this.remotePort = spark.request.socket.remotePort ?? 0
    this.fingerprint = handshake.request.fingerprint
    this.connectedAt = Date.now()
    this.handshake = handshake.request
    this.#auth = handshake.auth
    this.#spark = spark
    this.#wire = wire
  }

  /**
   * What the `authorize` option returned for this connection's handshake, or what `refresh` (or a
   * `reauthorize`) returned since.
   */
  get auth (): unknown {
    return this.#auth
  }

  /**
   * When the connection's credentials expire (ms since the epoch): the `expiresAt` of its `auth`, when
   * that is an object with a finite number there; null: never.
   */
  get expiresAt (): number | null {
    return expiryOf(this.#auth)
  }

  /** New credentials, from `refresh` or a new `authorize`. @internal */
  renew (auth: unknown): void {
    this.#auth = auth
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

  /**
   * Ends the connection and tells the client why (PROTOCOL.md 3.6); `reconnect`: whether it may come
   * back (Primus's own reconnection), or stays away. False when it was closed already.
   */
  close (reason: string, reconnect: boolean): boolean {
    if (!this.open) return false
    const notice: ClosedMessage = { context: 'closed', reason, reconnect }
    this.write(encodeJson(notice) as string, notice)
    this.#spark.end(undefined, { reconnect })
    return true
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

  /** Bytes queued for this client and not yet sent, whatever its transformer. */
  get bufferedBytes (): number {
    return this.#wire.bufferedBytes
  }

  /**
   * Resolves once at most `lowWater` bytes are queued for this client, or the connection closed: at
   * once when it already is. A reader that lets more than `maxBufferedBytes` pile up is disconnected.
   */
  drained (lowWater: number): Promise<void> {
    return this.#wire.drained(lowWater)
  }

  /**
   * Writes a message already encoded (a Buffer when it goes to many, so that it is encoded once for
   * all); `message` is the object, when the caller has it, for whatever observes messages as objects.
   * A reader that lets more than `maxBufferedBytes` pile up is disconnected.
   * @internal
   */
  write (data: string | Buffer, message?: object): boolean {
    return this.#wire.write(data, message)
  }

  /** Closes the socket at once, without the closing handshake (for readers that stopped reading). @internal */
  terminate (): void {
    this.#wire.terminate()
  }

  /**
   * Whether a long-polling session of the connection's transformer outlives its end (browserchannel's),
   * for shutdown to cut once the goodbye had time to go out. @internal
   */
  get lingers (): boolean {
    return this.#wire.lingers
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
