/**
 * What the plugin knows of each of Primus's transformers besides its own `websockets` one
 * (websockets.ts): how large an HTTP body its client may send, where a message waits for a client that
 * does not read, what tells that it left, and how to cut a connection at once. The queues are read
 * where the transformer exposes them (engine.io's documented `packetCreate`, `flush` and `drain`
 * events; the TCP socket under faye) and otherwise from the transformer's own fields (sockjs's
 * session send buffer, browserchannel's outgoing arrays, read every so many bytes written), each pinned by
 * test/transformer-slow-readers.test.ts; a field that is not there counts as nothing queued, and the
 * boot log says once that `maxBufferedBytes` is not enforced there (index.ts).
 */
import type { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { Spark } from '../primus.js'

/** Where a transformer queues, for one connection. */
export interface Queue {
  /** Bytes waiting for the client, as far as they can be told; null when the transformer's queue cannot be read. */
  bytes (): number | null
  /** False when `bytes()` walks the transformer's arrays: then a write checks it only every so many bytes written (index.ts). */
  readonly cheap: boolean
  /** What emits `drain` and `close` when what is queued leaves or cannot anymore; null: only the timer asks `bytes()` again (wire.ts). */
  readonly drains: EventEmitter | null
  /** Closes the connection at once, without waiting for what is queued. */
  terminate (): void
  /**
   * True when a long-polling session outlives the connection's end, waiting for its client to say it
   * heard the goodbye (or for a timeout of its own): shutdown cuts it (`terminate`) once the goodbye had
   * time to go out (shutdown.ts).
   */
  readonly lingers: boolean
}

export interface TransformerAdapter {
  /**
   * How many times `maxLength` an HTTP body may be: a body must carry a message of `maxLength` as the
   * transformer's client encodes it (index.ts adds `BODY_FRAMING` for the batch around it).
   */
  readonly bodyFactor: number
  /** The queue of a new connection's spark. */
  queue (spark: Spark): Queue
}

/** The size of a message as a transformer holds it (string length: UTF-16 units, close to bytes for what JSON carries). */
export function sizeOf (data: unknown): number {
  if (typeof data === 'string') return data.length
  if (Buffer.isBuffer(data)) return data.length
  if (Array.isArray(data)) return data.reduce((sum: number, item) => sum + sizeOf(item), 0)
  return 0
}

function tcpQueued (socket: Socket | null | undefined): number {
  return socket?.writableLength ?? 0
}

/** The TCP socket a spark's WebSocket handshake came on; null for a long-polling one. */
function upgradeSocket (spark: Spark): Socket | null {
  const request = spark.request as Spark['request'] | null
  return request?.headers.upgrade?.toLowerCase() === 'websocket' ? request.socket : null
}

/** faye: a WebSocket whose driver writes every frame to the TCP socket at once; the socket buffers them. */
const faye: TransformerAdapter = {
  bodyFactor: 1,
  queue (spark) {
    const socket = upgradeSocket(spark)
    return {
      bytes: () => socket === null ? null : tcpQueued(socket),
      cheap: true,
      drains: socket,
      terminate: () => { socket?.destroy() ?? spark.end(undefined, { reconnect: true }) },
      lingers: false
    }
  }
}

interface EngineSocket extends EventEmitter {
  close (discard?: boolean): void
  /** Its transport; over WebSocket, `socket` is the `ws` WebSocket it runs on. */
  transport?: { socket?: { terminate?: () => void } }
}

/**
 * engine.io: every packet is created (`packetCreate`), waits in the socket's write buffer, is handed to
 * the transport in a batch (`flush`), and has left once the transport drained (`drain`): all three
 * are documented events. Its client splits batches by `maxPayload` (engine.io's own body bound, set
 * to `maxLength` by Primus).
 */
const engineIo: TransformerAdapter = {
  bodyFactor: 1,
  queue (spark) {
    const socket = spark.socket as unknown as EngineSocket
    let waiting = 0
    let inTransport = 0
    socket.on('packetCreate', (packet: { data?: unknown }) => { waiting += sizeOf(packet.data) })
    socket.on('flush', (packets: Array<{ data?: unknown }>) => {
      const flushed = sizeOf(packets.map((packet) => packet.data))
      waiting = Math.max(0, waiting - flushed)
      inTransport += flushed
    })
    socket.on('drain', () => { inTransport = 0 })
    return {
      bytes: () => waiting + inTransport,
      cheap: true,
      drains: socket,
      // Without `discard`, engine.io waits for its write buffer to drain before it closes: never, for a
      // client that does not read; and over WebSocket its close waits for the client's closing handshake
      // (30 s), holding what was queued: the WebSocket is terminated first.
      terminate: () => {
        socket.transport?.socket?.terminate?.()
        socket.close(true)
      },
      lingers: false
    }
  }
}

interface SockjsSession {
  send_buffer?: string[]
  recv?: { response?: { socket?: Socket | null } | null, ws?: { _stream?: Socket } | null } | null
}

/**
 * sockjs: messages wait in the session's send buffer until a receiver (a poll, a stream, a WebSocket)
 * takes them; a stream or a WebSocket then buffers in its TCP socket. Neither is exposed: read from
 * the session, by sampling.
 */
const sockjs: TransformerAdapter = {
  bodyFactor: 3,
  queue (spark) {
    const connection = spark.socket as unknown as { _session?: SockjsSession, close: () => void }
    const receiverSocket = (): Socket | null | undefined => {
      const receiver = connection._session?.recv
      return receiver?.response?.socket ?? receiver?.ws?._stream
    }
    return {
      bytes: () => {
        const session = connection._session
        if (session?.send_buffer === undefined) return null
        return sizeOf(session.send_buffer) + tcpQueued(receiverSocket())
      },
      cheap: false,
      drains: null,
      // The session's close waits for the client (a WebSocket's closing handshake, 30 s), holding what
      // was queued: the receiver's TCP socket goes at once.
      terminate: () => {
        const socket = receiverSocket()
        connection.close()
        socket?.destroy()
      },
      // It waits `disconnect_delay` (5 s) for its client's next poll, then goes by itself.
      lingers: false
    }
  }
}

interface BrowserChannelSession {
  _outgoingArrays?: Array<{ data: unknown }>
  close: (message?: string) => void
}

/**
 * browserchannel: every message stays in the session's outgoing arrays until the client acknowledges
 * it; read by sampling. Primus's `end` only tells the client to stop: `terminate` closes the session.
 */
const browserchannel: TransformerAdapter = {
  // Its client sends a message as a JSON string, URL-encoded: a `"` of the message, already `\"`, becomes `%5C%5C%5C%22`.
  bodyFactor: 6,
  queue (spark) {
    const session = spark.socket as unknown as BrowserChannelSession
    return {
      bytes: () => session._outgoingArrays === undefined ? null : sizeOf(session._outgoingArrays.map((array) => array.data)),
      cheap: false,
      drains: null,
      terminate: () => { session.close('terminated') },
      // Ended, it waits for its client to acknowledge the stop, which a client that heard it never does: its 30 s timeout.
      lingers: true
    }
  }
}

export const TRANSFORMER_ADAPTERS: Readonly<Record<string, TransformerAdapter>> = {
  faye,
  'engine.io': engineIo,
  sockjs,
  browserchannel
}

/**
 * Any other transformer: a custom one, or Primus's own `websockets` when the plugin's cannot be made.
 * Its socket's `bufferedAmount` when it has one (ws's), else what the TCP socket of its upgrade holds.
 */
export const GENERIC_ADAPTER: TransformerAdapter = {
  bodyFactor: 1,
  queue (spark) {
    const tcp = upgradeSocket(spark)
    const socket = (): { bufferedAmount?: unknown, terminate?: () => void } | null => spark.socket
    return {
      bytes: () => {
        const bufferedAmount = socket()?.bufferedAmount
        return typeof bufferedAmount === 'number' ? bufferedAmount : tcp === null ? null : tcp.writableLength
      },
      cheap: true,
      drains: tcp,
      terminate: () => {
        const terminate = socket()?.terminate
        if (terminate !== undefined) terminate.call(socket())
        else if (tcp !== null) tcp.destroy()
        else spark.end(undefined, { reconnect: true })
      },
      lingers: false
    }
  }
}
