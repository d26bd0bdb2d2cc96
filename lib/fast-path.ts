/**
 * The hot path on Primus's `websockets` transformer. Primus hands each frame through a chain of
 * events, callbacks and closures (emits, decoder, protocol check, transforms) before its `data`
 * event, and each write through another; on the default setup (websockets transformer, JSON parser)
 * the plugin reads and writes the `ws` socket itself instead, but only while nothing else would
 * observe the message: Primus's message transformers, a `data` listener besides the plugin's (an
 * app's or a Primus plugin's), an `incoming::data` or `outgoing::data` listener besides Primus's
 * own. The moment one is there, messages go through Primus again, the next one already; when it
 * goes away, the direct path comes back. Everything else — Primus's other `primus::` messages, binary
 * frames, frames that are not JSON objects — always goes to Primus, so its error reporting keeps working.
 *
 * Primus's heartbeat is the one message every idle connection gets: a ping every `pingInterval`, a
 * pong back. On the direct path the ping of a round is encoded once and written to each socket, and a
 * pong marks its spark alive without Primus's decoder and events (`spark.heartbeat` is writable in
 * Primus for such policies); a spark that missed its pong is still ended by Primus's own heartbeat.
 */
import { WebSocket } from 'ws'
import type { PrimusServer, Spark } from './primus.js'

const OPEN_BRACE = 0x7b
const QUOTE = 0x22
/** A Primus client's pong, as its JSON parser encodes it: `"primus::pong::<time>"`. */
const PONG_PREFIX = Buffer.from('"primus::pong::')
/** `ws`'s send options for a text frame: one object for every write of the direct path. */
export const TEXT_FRAME = { binary: false }
// Listeners a spark has of its own on the direct path: Primus's decoder on `incoming::data`, the
// plugin's dispatch on `data`, and the transformer's writer plus the plugin's byte count on `outgoing::data`.
const OWN_INCOMING_DATA = 1
const OWN_DATA = 1
const OWN_OUTGOING_DATA = 2
// Primus's own listener of pongs, which marks the spark alive.
const OWN_INCOMING_PONG = 1

/** The `ws` socket of a spark when the plugin may read and write it directly, else null. */
export function directSocket (primus: PrimusServer, spark: Spark): WebSocket | null {
  const socket = spark.socket
  if (!(socket instanceof WebSocket)) return null
  const parser = primus.options.parser
  if (typeof parser !== 'string' || parser.toLowerCase() !== 'json') return null
  return socket
}

/** True while something besides the socket would see a message written to `spark`. */
export function writesObserved (primus: PrimusServer, spark: Spark): boolean {
  return primus.transformers.outgoing.length > 0 || spark.listenerCount('outgoing::data') > OWN_OUTGOING_DATA
}

/** True while something besides the plugin would see a message `spark` receives. */
function readsObserved (primus: PrimusServer, spark: Spark): boolean {
  return primus.transformers.incoming.length > 0 || spark.listenerCount('data') > OWN_DATA ||
    spark.listenerCount('incoming::data') > OWN_INCOMING_DATA
}

/** True while something besides Primus's heartbeat would see a pong `spark` receives. */
function pongsObserved (primus: PrimusServer, spark: Spark): boolean {
  return readsObserved(primus, spark) || spark.listenerCount('incoming::pong') > OWN_INCOMING_PONG
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

/**
 * Primus's heartbeat for a spark on the direct path whose writes nothing observes: marks it waiting
 * for its pong and writes the ping to its `ws` socket. False, having done nothing, when Primus's own
 * heartbeat must run: the spark missed its last pong (Primus ends it), or something would see the ping.
 */
export function pingDirectly (primus: PrimusServer, spark: Spark): boolean {
  const socket = spark.socket
  if (!(socket instanceof WebSocket) || !spark.alive || writesObserved(primus, spark) || spark.listenerCount('outgoing::ping') > 0) return false
  spark.alive = false
  if (socket.readyState === WebSocket.OPEN) socket.send(pingFrame(), TEXT_FRAME)
  return true
}

/**
 * Hands every JSON object frame of `socket` to `receive(target, message)` while nothing else would
 * observe it, pongs to their spark, and the rest to Primus (whose `data` event the plugin also
 * listens to). `receive` is shared by every connection: the one closure a socket gets is this listener.
 */
export function receiveDirectly<T> (primus: PrimusServer, spark: Spark, socket: WebSocket, target: T, receive: (target: T, message: object) => void): void {
  const [primusListener] = socket.listeners('message') as Array<(data: Buffer, isBinary: boolean) => void>
  if (primusListener === undefined) return
  socket.removeListener('message', primusListener)
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary && data[0] === QUOTE && isPong(data) && !pongsObserved(primus, spark)) {
      // What Primus's pong listener does, without decoding the frame and emitting it twice first.
      spark.alive = true
      spark.emit('heartbeat')
      return
    }
    if (!isBinary && data[0] === OPEN_BRACE && !readsObserved(primus, spark)) {
      let message: unknown
      try {
        message = JSON.parse(data.toString())
      } catch {
        // Not JSON after all: Primus reports it, and the client gets its error.
      }
      if (typeof message === 'object' && message !== null) return receive(target, message)
    }
    primusListener.call(socket, data, isBinary)
  })
}
