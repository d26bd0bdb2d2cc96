/**
 * Live messages of a stream (a room's, or a visitor's pushes) held for a connection while it catches
 * up on the stream's history: the replay is written first, then what was held, less what the replay
 * already gave, so that the connection gets no gap and no repeat, never out of order. A connection
 * that lets more than `maxBufferedBytes` pile up meanwhile does not read: it is cut, as a slow reader is.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { HistoryPosition, RoomAddFields } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import type { Metrics } from '../observability/metrics.js'
import type { StreamHistory } from './history.js'

/** A message as one connection gets it: the frame to write and the message it encodes. */
export interface HeldFrame<Message> {
  data: string | Buffer
  message: Message
}

/** What is held for one connection in one stream. */
export interface Holding<Message> {
  readonly connection: Connection
  readonly key: string
  readonly held: Array<HeldFrame<Message>>
  /** The bytes held: more than `maxBufferedBytes` is a client that does not read. */
  bytes: number
}

export interface HoldsOptions<Message> {
  /** Where a message sits in its stream, when it carries a position. */
  positionOf: (message: Message) => HistoryPosition | null
  maxBufferedBytes: number
  log: FastifyBaseLogger
  metrics: Metrics
}

/** How a replay reads its stream and writes to its connection (each write paced by the caller). */
export interface Replay<Message> {
  readonly history: Pick<StreamHistory<Message>, 'since' | 'position'>
  /** The position of the last message the client has; without one, only the stream's position is answered. */
  readonly since: HistoryPosition | undefined
  /** Writes a message of the history. */
  readonly replayed: (message: Message) => Promise<void>
  /** Writes a live message that was held. */
  readonly held: (frame: HeldFrame<Message>) => Promise<void>
  /** What the log calls the history when it cannot be read (`room history`, `push history`). */
  readonly what: string
}

export class Holds<Message extends object> {
  readonly #options: HoldsOptions<Message>
  /** Connection -> stream -> what waits for its replay. */
  readonly #holding = new Map<Connection, Map<string, Holding<Message>>>()

  constructor (options: HoldsOptions<Message>) {
    this.#options = options
  }

  /** Starts holding the live messages of stream `key` for `connection`, until `release`. */
  hold (connection: Connection, key: string): Holding<Message> {
    const holding: Holding<Message> = { connection, key, held: [], bytes: 0 }
    let streams = this.#holding.get(connection)
    if (streams === undefined) this.#holding.set(connection, streams = new Map())
    streams.set(key, holding)
    return holding
  }

  /** Writes a live message of stream `key` to `connection`, or holds it while the connection catches up. */
  write (connection: Connection, key: string, data: string | Buffer, message: Message): void {
    const holding = this.#holding.size === 0 ? undefined : this.#holding.get(connection)?.get(key)
    if (holding === undefined) {
      connection.write(data, message)
      return
    }
    holding.held.push({ data, message })
    holding.bytes += byteSize(data)
    if (holding.bytes <= this.#options.maxBufferedBytes) return
    // The stream says more than the connection reads while it catches up: a reader that does not keep up.
    this.#stop(holding)
    this.#options.metrics.slowReaderCut()
    this.#options.log.warn({ connection: connection.id, buffered: holding.bytes }, 'fastify-actionhero-ws: disconnecting a connection that does not read its messages')
    connection.terminate()
  }

  /**
   * The history part of a catch-up, for a connection holding the stream's live messages: the replay
   * after `since` when the history still holds all of it, then what was held meanwhile (`release`),
   * then the stream's position for the reply, with `recovered` when `since` was given. A history
   * that cannot be read is logged: the connection hears the live messages from here all the same.
   */
  async replay (holding: Holding<Message>, { history, since, replayed: writeReplayed, held: writeHeld, what }: Replay<Message>): Promise<RoomAddFields> {
    let replayed: HistoryPosition | null = null
    try {
      const missed = since === undefined ? null : await history.since(holding.key, since)
      if (since !== undefined && missed !== null) {
        replayed = { ...since }
        for (const message of missed) {
          replayed = this.#options.positionOf(message) ?? replayed
          await writeReplayed(message)
        }
      }
      const { epoch, offset } = await history.position(holding.key)
      if (since !== undefined) this.#options.metrics.historyReplayed(replayed === null ? 'too_old' : 'recovered')
      return since === undefined ? { epoch, offset } : { epoch, offset, recovered: replayed !== null }
    } catch (error) {
      if (since !== undefined) this.#options.metrics.historyReplayed('failed')
      this.#options.log.warn({ err: error, connection: holding.connection.id }, `fastify-actionhero-ws: the ${what} could not be read`)
      return since === undefined ? {} : { recovered: false }
    } finally {
      await this.release(holding, replayed, writeHeld)
    }
  }

  /**
   * Writes, through `send` (which paces them), what is held but what the replay gave (up to
   * `replayed`), then stops holding: nothing is awaited between finding the list empty and stopping,
   * so the next live message is written directly, after them.
   */
  async release (holding: Holding<Message>, replayed: HistoryPosition | null, send: (frame: HeldFrame<Message>) => Promise<void>): Promise<void> {
    const { held } = holding
    for (let next = held.shift(); next !== undefined; next = held.shift()) {
      holding.bytes -= byteSize(next.data)
      const position = replayed === null ? null : this.#options.positionOf(next.message)
      if (position !== null && replayed !== null && position.epoch === replayed.epoch && position.offset <= replayed.offset) continue
      await send(next)
    }
    this.#stop(holding)
  }

  #stop (holding: Holding<Message>): void {
    const streams = this.#holding.get(holding.connection)
    if (streams?.get(holding.key) !== holding) return
    streams.delete(holding.key)
    if (streams.size === 0) this.#holding.delete(holding.connection)
  }
}

/** A replay writes its next message once at most this much is queued for the client: a quarter of `maxBufferedBytes`, 256 KiB at most. */
export function lowWater (maxBufferedBytes: number): number {
  return Math.min(256 * 1024, Math.floor(maxBufferedBytes / 4))
}

export function byteSize (data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length
}
