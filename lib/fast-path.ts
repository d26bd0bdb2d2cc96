/**
 * The hot path on Primus's `websockets` transformer. Primus hands each frame through a chain of
 * events, callbacks and closures (emits, decoder, protocol check, transforms) before its `data`
 * event, and each write through another; on the default setup (websockets transformer, JSON parser)
 * the plugin reads and writes the `ws` socket itself instead, but only while nothing else would
 * observe the message: Primus's message transformers, a `data` listener besides the plugin's (an
 * app's or a Primus plugin's), an `incoming::data` or `outgoing::data` listener besides Primus's
 * own. The moment one is there, messages go through Primus again, the next one already; when it
 * goes away, the direct path comes back. Everything else — Primus's own `primus::` messages, binary
 * frames, frames that are not JSON objects — always goes to Primus, so its heartbeats and error
 * reporting keep working.
 */
import { WebSocket } from 'ws'
import type { PrimusServer, Spark } from './primus.js'

const OPEN_BRACE = 0x7b
// Listeners a spark has of its own on the direct path: Primus's decoder on `incoming::data`, the
// plugin's dispatch on `data`, and the transformer's writer plus the plugin's byte count on `outgoing::data`.
const OWN_INCOMING_DATA = 1
const OWN_DATA = 1
const OWN_OUTGOING_DATA = 2

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

/**
 * Hands every JSON object frame of `socket` to `receive(target, message)` while nothing else would
 * observe it, and the rest to Primus (whose `data` event the plugin also listens to). `receive` is
 * shared by every connection: the one closure a socket gets is this listener.
 */
export function receiveDirectly<T> (primus: PrimusServer, spark: Spark, socket: WebSocket, target: T, receive: (target: T, message: object) => void): void {
  const [primusListener] = socket.listeners('message') as Array<(data: Buffer, isBinary: boolean) => void>
  if (primusListener === undefined) return
  socket.removeListener('message', primusListener)
  socket.on('message', (data: Buffer, isBinary: boolean) => {
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
