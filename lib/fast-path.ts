/**
 * The hot path on Primus's `websockets` transformer. Primus hands each frame through a chain of
 * events, callbacks and closures (emits, decoder, protocol check, transforms) before its `data`
 * event, and each write through another; on the default setup (websockets transformer, JSON parser,
 * no message transformers) the plugin reads and writes the `ws` socket itself instead. Everything
 * else — Primus's own `primus::` messages, binary frames, frames that are not JSON objects — still
 * goes to Primus, so its heartbeats and error reporting keep working.
 */
import { WebSocket } from 'ws'
import type { PrimusServer, Spark } from './primus.js'

const OPEN_BRACE = 0x7b

/** The `ws` socket of a spark when the plugin may read and write it directly, else null. */
export function directSocket (primus: PrimusServer, spark: Spark): WebSocket | null {
  const socket = spark.socket
  if (!(socket instanceof WebSocket)) return null
  const parser = primus.options.parser
  if (typeof parser !== 'string' || parser.toLowerCase() !== 'json') return null
  return socket
}

/**
 * Hands every JSON object frame of `socket` to `receive`, and the rest to Primus. Only while Primus
 * has no incoming message transformers: those must see every message.
 */
export function receiveDirectly (primus: PrimusServer, socket: WebSocket, receive: (message: object) => void): void {
  const [primusListener] = socket.listeners('message') as Array<(data: Buffer, isBinary: boolean) => void>
  if (primusListener === undefined || primus.transformers.incoming.length > 0) return
  socket.removeListener('message', primusListener)
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary && data[0] === OPEN_BRACE) {
      let message: unknown
      try {
        message = JSON.parse(data.toString())
      } catch {
        // Not JSON after all: Primus reports it, and the client gets its error.
      }
      if (typeof message === 'object' && message !== null) return receive(message)
    }
    primusListener.call(socket, data, isBinary)
  })
}
