/**
 * Catching a member up on a room's history: the replay of what a rejoining client missed (`roomAdd`
 * with `since`), with the room's live messages held meanwhile so that they follow the replay without
 * a gap or a repeat, and `roomHistory` reads. Every message goes through the receiver's `say`
 * middleware, as live ones do. A connection's replays run one after another, and each is written as
 * the client reads it (at most a low-water mark queued before the next write), so a member that
 * reads is never cut as a slow reader for asking, and requests that wait their turn hold nothing.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatMessage, HistoryPosition, RoomAddFields } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import type { Metrics } from '../observability/metrics.js'
import { frameFor, outgoing, type MemberFrame } from './fanout.js'
import type { RoomHistory } from './history.js'
import { byteSize, Holds, lowWater, type Holding as Held } from './holds.js'
import type { ChatMiddlewareChain } from './middleware.js'
import { SerialQueues } from './serial-queues.js'

/** `roomHistory` without a `limit`: this many messages at most. */
export const DEFAULT_HISTORY_LIMIT = 50
/** `roomHistory`'s largest `limit` (or `history.size`, when smaller); a larger one is capped. */
export const MAX_HISTORY_LIMIT = 100

/** A member catching up on a room it joins: the room's live messages it holds meanwhile (holds.ts). */
export interface Holding {
  readonly connection: Connection
  readonly room: string
  readonly history: RoomHistory
  readonly held: Held<ChatMessage>
}

export interface CatchUpOptions {
  /** The store's history; null: none, and nothing to catch up on. */
  history: RoomHistory | null
  /** How many messages the history keeps per room. */
  historySize: number
  /** What may wait to be sent to one client (the `maxBufferedBytes` option). */
  maxBufferedBytes: number
  middleware: ChatMiddlewareChain
  log: FastifyBaseLogger
  metrics: Metrics
}

export class CatchUp {
  readonly #history: RoomHistory | null
  readonly #maxLimit: number
  readonly #maxBufferedBytes: number
  readonly #lowWater: number
  readonly #middleware: ChatMiddlewareChain
  readonly #log: FastifyBaseLogger
  /** Connections catching up on a room they just joined: the live messages of that room wait here. */
  readonly #holds: Holds<ChatMessage>
  /** Each connection's replays and history reads, one after another. */
  readonly #replays = new SerialQueues()

  constructor ({ history, historySize, maxBufferedBytes, middleware, log, metrics }: CatchUpOptions) {
    this.#history = history
    this.#maxLimit = Math.min(MAX_HISTORY_LIMIT, historySize)
    this.#maxBufferedBytes = maxBufferedBytes
    this.#lowWater = lowWater(maxBufferedBytes)
    this.#middleware = middleware
    this.#log = log
    this.#holds = new Holds<ChatMessage>({
      positionOf: ({ epoch, offset }) => epoch === undefined || offset === undefined ? null : { epoch, offset },
      maxBufferedBytes,
      log,
      metrics
    })
  }

  /**
   * Starts holding the live messages of `room` for `connection`, which joins it, until `replay` has
   * written what it missed. Null without history: nothing to hold them for.
   */
  hold (connection: Connection, room: string): Holding | null {
    const history = this.#history
    if (history === null) return null
    return { connection, room, history, held: this.#holds.hold(connection, room) }
  }

  /** Writes a room message to a member, or holds it while that member catches up on the room. */
  write (member: Connection, data: string | Buffer, message: ChatMessage): void {
    this.#holds.write(member, message.room, data, message)
  }

  /**
   * The history part of a join, in the connection's turn: the replay after `since` when the history
   * holds all of it, then the messages held meanwhile, then the room's position for the reply.
   */
  replay (holding: Holding, since?: HistoryPosition): Promise<RoomAddFields> {
    const { connection, history } = holding
    // The member is in the room whatever happens to its history: it hears live messages from here.
    return this.#replays.run(connection.id, () => this.#holds.replay(holding.held, {
      history,
      since,
      replayed: async (message) => { await this.#send(connection, await frameFor(this.#middleware, this.#log, connection, outgoing(message))) },
      held: (frame) => this.#send(connection, frame),
      what: 'room history'
    }))
  }

  /**
   * `roomHistory`: the room's last `limit` messages (`DEFAULT_HISTORY_LIMIT` without one; at most
   * `MAX_HISTORY_LIMIT` or the history's size) as the connection's `say` middleware lets it have them,
   * oldest first, and of those the newest that fit in half of `maxBufferedBytes`, so that one reply
   * never cuts a reader. `answer` writes them, in the connection's turn, once it has read what came
   * before; a connection closed by then gets nothing.
   */
  async read (connection: Connection, room: string, limit: number | undefined, answer: (messages: ChatMessage[]) => void): Promise<void> {
    const history = this.#history
    if (history === null) return answer([])
    await this.#replays.run(connection.id, async () => {
      if (!connection.open) return
      const kept = await history.recent(room, Math.min(limit ?? DEFAULT_HISTORY_LIMIT, this.#maxLimit))
      const frames: MemberFrame[] = []
      for (const message of kept) {
        const frame = await frameFor(this.#middleware, this.#log, connection, outgoing(message))
        if (frame !== null) frames.push(frame)
      }
      let first = frames.length
      for (let bytes = 0; first > 0; first--) {
        bytes += byteSize((frames[first - 1] as MemberFrame).data)
        if (bytes > this.#maxBufferedBytes / 2) break
      }
      await connection.drained(this.#lowWater)
      answer(frames.slice(first).map(({ message }) => message))
    })
  }

  /** Writes a replayed message (null: not for this receiver) once the client has read what came before. */
  async #send (connection: Connection, frame: MemberFrame | null): Promise<void> {
    if (frame === null || !connection.open) return
    await connection.drained(this.#lowWater)
    connection.write(frame.data, frame.message)
  }
}
