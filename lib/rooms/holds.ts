/**
 * Live messages of a stream (a room's, or a visitor's pushes) held for a connection while it catches
 * up on the stream's history: the replay is written first, then what was held, less what the replay
 * already gave, so that the connection gets no gap and no repeat, never out of order.
 */
import type { HistoryPosition } from '../../types/protocol.js'
import type { Connection } from '../connection.js'

/** A message as one connection gets it: the frame to write and the message it encodes. */
export interface HeldFrame<Message> {
  data: string | Buffer
  message: Message
}

export class Holds<Message extends object> {
  /** Where a message sits in its stream, when it carries a position. */
  readonly #positionOf: (message: Message) => HistoryPosition | null
  /** Connection -> stream -> what waits for its replay. */
  readonly #holding = new Map<Connection, Map<string, Array<HeldFrame<Message>>>>()

  constructor (positionOf: (message: Message) => HistoryPosition | null) {
    this.#positionOf = positionOf
  }

  /** Starts holding the live messages of stream `key` for `connection`, until `release`. */
  hold (connection: Connection, key: string): void {
    let streams = this.#holding.get(connection)
    if (streams === undefined) this.#holding.set(connection, streams = new Map())
    streams.set(key, [])
  }

  /** Writes a live message of stream `key` to `connection`, or holds it while the connection catches up. */
  write (connection: Connection, key: string, data: string | Buffer, message: Message): void {
    const held = this.#holding.size === 0 ? undefined : this.#holding.get(connection)?.get(key)
    if (held === undefined) connection.write(data, message)
    else held.push({ data, message })
  }

  /** Writes what `connection` holds of stream `key` but what the replay gave (up to `replayed`), and stops holding. */
  release (connection: Connection, key: string, replayed: HistoryPosition | null): void {
    const streams = this.#holding.get(connection)
    const held = streams?.get(key) ?? []
    streams?.delete(key)
    if (streams?.size === 0) this.#holding.delete(connection)
    for (const { data, message } of held) {
      const position = replayed === null ? null : this.#positionOf(message)
      if (position !== null && replayed !== null && position.epoch === replayed.epoch && position.offset <= replayed.offset) continue
      connection.write(data, message)
    }
  }
}
