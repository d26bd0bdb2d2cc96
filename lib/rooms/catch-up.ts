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
import { frameFor, outgoing, type MemberFrame } from './fanout.js'
import type { RoomHistory } from './history.js'
import type { ChatMiddlewareChain } from './middleware.js'
import { SerialQueues } from './serial-queues.js'

/** `roomHistory` without a `limit`: this many messages at most. */
export const DEFAULT_HISTORY_LIMIT = 50
/** `roomHistory`'s largest `limit` (or `history.size`, when smaller); a larger one is capped. */
export const MAX_HISTORY_LIMIT = 100
/** A replay writes its next message once at most this much is queued for the client (or a quarter of `maxBufferedBytes`). */
const LOW_WATER = 256 * 1024

/** A member catching up on a room it joins: the room's live messages it holds meanwhile. */
export interface Holding {
  readonly connection: Connection
  readonly room: string
  readonly history: RoomHistory
  readonly held: MemberFrame[]
  /** The bytes held: more than `maxBufferedBytes` is a client that does not read. */
  bytes: number
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
}

export class CatchUp {
  readonly #history: RoomHistory | null
  readonly #maxLimit: number
  readonly #maxBufferedBytes: number
  readonly #lowWater: number
  readonly #middleware: ChatMiddlewareChain
  readonly #log: FastifyBaseLogger
  /** Connections catching up on a room they just joined: the live messages of that room wait here. */
  readonly #catchingUp = new Map<Connection, Map<string, Holding>>()
  /** Each connection's replays and history reads, one after another. */
  readonly #replays = new SerialQueues()

  constructor ({ history, historySize, maxBufferedBytes, middleware, log }: CatchUpOptions) {
    this.#history = history
    this.#maxLimit = Math.min(MAX_HISTORY_LIMIT, historySize)
    this.#maxBufferedBytes = maxBufferedBytes
    this.#lowWater = Math.min(LOW_WATER, Math.floor(maxBufferedBytes / 4))
    this.#middleware = middleware
    this.#log = log
  }

  /**
   * Starts holding the live messages of `room` for `connection`, which joins it, until `replay` has
   * written what it missed. Null without history: nothing to hold them for.
   */
  hold (connection: Connection, room: string): Holding | null {
    const history = this.#history
    if (history === null) return null
    const holding: Holding = { connection, room, history, held: [], bytes: 0 }
    let rooms = this.#catchingUp.get(connection)
    if (rooms === undefined) this.#catchingUp.set(connection, rooms = new Map())
    rooms.set(room, holding)
    return holding
  }

  /** Writes a room message to a member, or holds it while that member catches up on the room. */
  write (member: Connection, data: string | Buffer, message: ChatMessage): void {
    const holding = this.#catchingUp.size === 0 ? undefined : this.#catchingUp.get(member)?.get(message.room)
    if (holding === undefined) {
      member.write(data, message)
      return
    }
    holding.held.push({ data, message })
    holding.bytes += byteSize(data)
    if (holding.bytes <= this.#maxBufferedBytes) return
    // The room says more than the member reads while it catches up: a reader that does not keep up.
    this.#stopHolding(holding)
    this.#log.warn({ connection: member.id, buffered: holding.bytes }, 'fastify-actionhero-ws: disconnecting a connection that does not read its messages')
    member.terminate()
  }

  /**
   * The history part of a join, in the connection's turn: the replay after `since` when the history
   * holds all of it, then the messages held meanwhile, then the room's position for the reply.
   */
  replay (holding: Holding, since?: HistoryPosition): Promise<RoomAddFields> {
    const { connection, room, history } = holding
    return this.#replays.run(connection.id, async () => {
      let replayed: HistoryPosition | null = null
      try {
        const missed = since === undefined ? null : await history.since(room, since)
        if (since !== undefined && missed !== null) {
          replayed = { ...since }
          for (const message of missed) {
            replayed.offset = message.offset ?? replayed.offset
            await this.#send(connection, await frameFor(this.#middleware, this.#log, connection, outgoing(message)))
          }
        }
        const { epoch, offset } = await history.position(room)
        return since === undefined ? { epoch, offset } : { epoch, offset, recovered: replayed !== null }
      } catch (error) {
        // The member is in the room whatever happened to its history: it hears live messages from here.
        this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: the room history could not be read')
        return since === undefined ? {} : { recovered: false }
      } finally {
        await this.#release(holding, replayed)
      }
    })
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

  /** Writes what the connection holds for the room (but what the replay already gave it), as it reads, then stops holding. */
  async #release (holding: Holding, replayed: HistoryPosition | null): Promise<void> {
    const { connection, held } = holding
    for (let next = held.shift(); next !== undefined; next = held.shift()) {
      holding.bytes -= byteSize(next.data)
      const { message } = next
      if (replayed !== null && message.epoch === replayed.epoch && (message.offset ?? 0) <= replayed.offset) continue
      await this.#send(connection, next)
    }
    // Nothing awaited since the list was found empty: the next live message is written directly.
    this.#stopHolding(holding)
  }

  #stopHolding ({ connection, room }: Holding): void {
    const rooms = this.#catchingUp.get(connection)
    rooms?.delete(room)
    if (rooms?.size === 0) this.#catchingUp.delete(connection)
  }
}

function byteSize (data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length
}
