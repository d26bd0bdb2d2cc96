/**
 * The plugin's own `websockets` transformer, made through Primus's public `Primus.Transformer.extend({
 * server, client })`: the server side is a `ws.WebSocketServer` of the plugin's own `ws` (`noServer`,
 * `maxPayload: maxLength`) that creates the spark and wires `incoming::*`/`outgoing::*` as Primus's
 * transformer does, so Primus's parser, plugins and message transformers work through Primus's
 * events; the client side is Primus's own websockets client, so the generated library and the
 * browser are unchanged. Owning the upgrade callback and the `message` listener, the plugin reads and
 * writes the socket itself while nothing else observes (the rule is index.ts's).
 */
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { primusHeartbeat, PrimusTransformer, SPARK_CLOSED, type PrimusServer, type Spark, type TransformerConstructor, type TransformerContext } from '../primus.js'
import { BaseWire, type WireEnvironment } from './wire.js'

const require = createRequire(import.meta.url)

/** What the transformer of one server needs from the transport (index.ts). */
export interface DirectEnvironment extends WireEnvironment {
  /** False when the parser is not JSON: then every message goes through Primus. */
  readonly direct: boolean
  /** The welcome, encoded once, written with the 101 answer; null: none. */
  readonly greeting: Buffer | null
  /** Registers the wire of a new spark, for the transport's shared listeners. */
  readonly adopt: (spark: Spark, wire: DirectWire) => void
  /** The wire of a spark of this server. */
  readonly wireOf: (spark: Spark) => unknown
  /** Hands a message read directly to the connection it arrived on. */
  readonly receive: (wire: DirectWire, message: object) => void
}

const OPEN_BRACE = 0x7b
const QUOTE = 0x22
/** A Primus client's pong, as its JSON parser encodes it: `"primus::pong::<time>"`. */
const PONG_PREFIX = Buffer.from('"primus::pong::')
/** `ws`'s send options for a text frame: one object for every direct write. */
const TEXT_FRAME = { binary: false }
/** What the metrics count the welcome as, when it leaves with the 101 answer (its context). */
const WELCOME = Object.freeze({ context: 'api' })

/**
 * The spark events whose listeners observe messages, and where each one's limit sits in one small
 * integer (six bits each): a spark's count of each, as Primus's own initialiser leaves it, taken when
 * the spark is created, plus the listeners the plugin itself adds after that (the transport's `data`
 * listener, index.ts, and this transformer's writer on `outgoing::data`). A listener beyond its limit
 * observes.
 */
const DATA = 0
const INCOMING_DATA = 6
const OUTGOING_DATA = 12
const INCOMING_PONG = 18
const OUTGOING_PING = 24
const OBSERVED: ReadonlyArray<[event: string, shift: number, own: number]> = [
  ['data', DATA, 1], ['incoming::data', INCOMING_DATA, 0], ['outgoing::data', OUTGOING_DATA, 1],
  ['incoming::pong', INCOMING_PONG, 0], ['outgoing::ping', OUTGOING_PING, 0]
]

function listenerLimits (spark: Spark): number {
  let limits = 0
  for (const [event, shift, own] of OBSERVED) limits |= Math.min(spark.listenerCount(event) + own, 63) << shift
  return limits
}

function isPong (data: Buffer): boolean {
  return data.length > PONG_PREFIX.length && data.compare(PONG_PREFIX, 0, PONG_PREFIX.length, 0, PONG_PREFIX.length) === 0
}

/** The ping frame of this millisecond, as Primus writes it (`"primus::ping::<time>"`): one per round. */
let ping = { at: 0, frame: Buffer.alloc(0) }
function pingFrame (): Buffer {
  const now = Date.now()
  if (ping.at !== now) ping = { at: now, frame: Buffer.from(JSON.stringify(`primus::ping::${now}`)) }
  return ping.frame
}

/** One connection of the plugin's transformer: its `ws` socket, read and written directly while nobody observes. */
export class DirectWire extends BaseWire {
  readonly #ws: WebSocket
  /** The TCP socket of the upgrade: it emits `drain` and `close`. */
  readonly #socket: Duplex
  readonly #primus: PrimusServer
  readonly #direct: boolean
  /** Per observed event, how many listeners are Primus's own and the plugin's (`listenerLimits`). */
  readonly #limits: number
  readonly #receive: DirectEnvironment['receive']
  /** What arrived before Primus announced the connection, in order (frame, isBinary, ...); null once attached. */
  #early: Array<Buffer | boolean> | null = []
  greeted = false

  constructor (spark: Spark, ws: WebSocket, socket: Duplex, primus: PrimusServer, limits: number, environment: DirectEnvironment) {
    super(spark, environment)
    this.#ws = ws
    this.#socket = socket
    this.#primus = primus
    this.#direct = environment.direct
    this.#limits = limits
    this.#receive = environment.receive
  }

  get bufferedBytes (): number {
    return this.#ws.bufferedAmount
  }

  /** Nothing of a WebSocket outlives its end but its TCP socket. */
  get lingers (): false {
    return false
  }

  protected get drains (): Duplex {
    return this.#socket
  }

  #observed (event: string, shift: number): boolean {
    return this.spark.listenerCount(event) > ((this.#limits >> shift) & 63)
  }

  /** True while something besides the socket would see a message written to this connection. */
  get writesObserved (): boolean {
    return !this.#direct || this.#primus.transformers.outgoing.length > 0 || this.#observed('outgoing::data', OUTGOING_DATA)
  }

  /** True while something besides the plugin would see a message this connection receives. */
  get readsObserved (): boolean {
    return !this.#direct || this.#primus.transformers.incoming.length > 0 || this.#observed('data', DATA) ||
      this.#observed('incoming::data', INCOMING_DATA)
  }

  write (frame: string | Buffer, message?: object): boolean {
    if (this.spark.readyState === SPARK_CLOSED) return false
    this.environment.metrics.messageSent(message)
    // Through Primus: its transformers, its parser's encoder and every outgoing::data listener.
    if (this.writesObserved) return this.spark.write(message ?? JSON.parse(String(frame)))
    this.send(frame)
    return true
  }

  /** Sends a frame on the socket (what Primus writes comes here too) and checks what waits. */
  send (frame: string | Buffer): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return
    this.#ws.send(frame, TEXT_FRAME)
    this.environment.metrics.bytesSent(frame)
    this.check()
  }

  terminate (): void {
    this.#ws.terminate()
  }

  /**
   * Writes the welcome with the 101 answer, unless something would observe it (then the transport
   * writes it at attach). Not counted against maxBufferedBytes: the cork holds it, not a slow reader.
   */
  greet (greeting: Buffer | null): void {
    if (greeting === null || this.writesObserved) return
    this.#ws.send(greeting, TEXT_FRAME)
    this.environment.metrics.messageSent(WELCOME)
    this.environment.metrics.bytesSent(greeting)
    this.greeted = true
  }

  /** The connection is announced: what arrived before is read now, in order, and what follows as it comes. */
  attach (): void {
    const early = this.#early
    this.#early = null
    if (early === null) return
    for (let index = 0; index < early.length; index += 2) this.#onMessage(early[index] as Buffer, early[index + 1] as boolean)
  }

  /**
   * Primus's heartbeat, directly: marks the spark waiting for its pong and writes the ping of this
   * round. False, having done nothing, when Primus's own heartbeat must run: the spark missed its last
   * pong (Primus ends it), or something would see the ping.
   */
  ping (): boolean {
    const spark = this.spark
    if (!spark.alive || this.writesObserved || this.#observed('outgoing::ping', OUTGOING_PING)) return false
    spark.alive = false
    this.send(pingFrame())
    return true
  }

  /** A frame from the client: to the connection directly while nobody observes, else to Primus. */
  readonly onMessage = (data: RawData, isBinary: boolean): void => {
    this.environment.metrics.bytesReceived(data)
    this.#onMessage(data as Buffer, isBinary)
  }

  #onMessage (data: Buffer, isBinary: boolean): void {
    if (this.#early !== null && this.#direct) {
      // Kept for one tick at most; a spark ended before its announcement (refused) keeps nothing.
      if (!this.closed) this.#early.push(data, isBinary)
      return
    }
    if (!isBinary && data[0] === QUOTE && isPong(data) && !this.readsObserved && !this.#observed('incoming::pong', INCOMING_PONG)) {
      // What Primus's pong listener does, without decoding the frame and emitting it twice first.
      this.spark.alive = true
      this.spark.emit('heartbeat')
      return
    }
    if (!isBinary && data[0] === OPEN_BRACE && !this.readsObserved) {
      let message: unknown
      try {
        message = JSON.parse(data.toString())
      } catch {
        // Not JSON after all: Primus reports it, and the client gets its error.
      }
      if (typeof message === 'object' && message !== null) return this.#receive(this, message)
    }
    this.spark.emit('incoming::data', isBinary ? data : data.toString())
  }
}

/**
 * Primus's websockets client, which the generated library carries (Primus exports no path for it: loaded
 * by its file, pinned by test/transport.test.ts); null when it is not there.
 */
function primusWebSocketsClient (): unknown {
  try {
    return require('primus/transformers/websockets/client') as unknown
  } catch {
    return null
  }
}

/** The major version of the plugin's own `ws`. */
function wsMajor (): number {
  try {
    return Number((require('ws/package.json') as { version: string }).version.split('.')[0])
  } catch {
    return 0
  }
}

/** The direct path's heartbeats (one per server): like Primus's, they end a spark that missed its pong. */
export const directHeartbeats = new WeakSet<Spark['heartbeat']>()

/**
 * The plugin's transformer for one server, or the reason it cannot be made (then the transport uses
 * Primus's own `websockets` transformer, through Primus for every message).
 */
export function webSocketsTransformer (environment: DirectEnvironment): TransformerConstructor | string {
  const client = primusWebSocketsClient()
  if (typeof client !== 'function') return 'Primus\'s websockets client (primus/transformers/websockets/client) was not found'
  const major = wsMajor()
  if (major !== 8) return `the plugin's ws is not version 8 (found ${major === 0 ? 'none' : major})`
  directHeartbeats.add(directHeartbeat)
  return PrimusTransformer.extend({ server: serve, client })

  function serve (this: TransformerContext): void {
    const { primus, Spark } = this
    const options = primus.options as { compression?: unknown, maxLength: number, transport?: Record<string, unknown> }
    const service = new WebSocketServer({
      perMessageDeflate: Boolean(options.compression),
      maxPayload: options.maxLength,
      ...options.transport,
      clientTracking: false,
      noServer: true
    })
    // Right after Primus's own initialiser and before any plugin's (plugins come after the transformer),
    // so that the limits count Primus's listeners alone.
    let limits = 0
    Spark.prototype.initialise = function (this: Spark) { limits = listenerLimits(this) }

    this.on('upgrade', (request, socket, head) => {
      // The 101 answer and the welcome leave in one write: ws calls back synchronously as it completes the upgrade.
      socket.cork()
      service.handleUpgrade(request, socket, head, (ws) => {
        const query = request.url?.includes('?') === true ? request.url.slice(request.url.indexOf('?') + 1) : ''
        const spark = new Spark(request.headers, request, query, null, request, ws)
        open(spark, ws, socket, primus, limits)
      })
      socket.uncork()
    })
    this.on('request', (_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain' })
      response.end('Upgrade Required')
    })
    this.once('close', () => { service.close() })
  }

  function open (spark: Spark, ws: WebSocket, socket: Duplex, primus: PrimusServer, limits: number): void {
    const wire = new DirectWire(spark, ws, socket, primus, limits, environment)
    environment.adopt(spark, wire)
    spark.on('outgoing::end', () => { ws.close() })
    spark.on('outgoing::data', (data: string | Buffer) => { wire.send(data) })
    ws.on('message', wire.onMessage)
    ws.on('error', (error: Error) => { spark.emit('incoming::error', error) })
    // A client's WebSocket ping counts as a pong, as in Primus's transformer.
    ws.on('ping', () => { spark.emit('incoming::pong', null) })
    ws.on('close', () => {
      ws.removeAllListeners()
      spark.emit('incoming::end')
    })
    if (environment.direct) spark.heartbeat = directHeartbeat
    wire.greet(environment.greeting)
  }

  function directHeartbeat (this: Spark): void {
    const wire = environment.wireOf(this)
    if (!(wire instanceof DirectWire) || !wire.ping()) primusHeartbeat.call(this)
  }
}
