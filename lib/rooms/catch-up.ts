/**
 * Catching a member up on a room's history: the replay of what a rejoining client missed (`roomAdd`
 * with `since`), with the room's live messages held meanwhile so that they follow the replay without
 * a gap or a repeat, and `roomHistory` reads.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatMessage, HistoryPosition, RoomAddFields } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { encodeJson } from '../json.js'
import { frameFor } from './fanout.js'
import type { RoomHistory } from './history.js'
import { Holds } from './holds.js'
import type { ChatMiddlewareChain } from './middleware.js'

/** A member catching up on a room it joins: the room's live messages are held for it meanwhile. */
export interface Holding {
  readonly connection: Connection
  readonly room: string
  readonly history: RoomHistory
}

export interface CatchUpOptions {
  /** The store's history; null: none, and nothing to catch up on. */
  history: RoomHistory | null
  middleware: ChatMiddlewareChain
  log: FastifyBaseLogger
}

export class CatchUp {
  readonly #history: RoomHistory | null
  readonly #middleware: ChatMiddlewareChain
  readonly #log: FastifyBaseLogger
  /** Connections catching up on a room they just joined: the live messages of that room wait here. */
  readonly #holds = new Holds<ChatMessage>(({ epoch, offset }) => epoch === undefined || offset === undefined ? null : { epoch, offset })

  constructor ({ history, middleware, log }: CatchUpOptions) {
    this.#history = history
    this.#middleware = middleware
    this.#log = log
  }

  /**
   * Starts holding the live messages of `room` for `connection`, which joins it; the returned list
   * fills as they come, until `replay` writes them. Null without history: nothing to hold them for.
   */
  hold (connection: Connection, room: string): Holding | null {
    const history = this.#history
    if (history === null) return null
    this.#holds.hold(connection, room)
    return { connection, room, history }
  }

  /** Writes a room message to a member, or holds it while that member catches up on the room. */
  write (member: Connection, data: string | Buffer, message: ChatMessage): void {
    this.#holds.write(member, message.room, data, message)
  }

  /**
   * The history part of a join: the replay after `since` when the history holds all of it (each
   * message through the `say` middleware, as live ones), then the messages held meanwhile, then the
   * room's position for the reply.
   */
  async replay (holding: Holding, since?: HistoryPosition): Promise<RoomAddFields> {
    const { connection, room, history } = holding
    let replayed: HistoryPosition | null = null
    try {
      const missed = since === undefined ? null : await history.since(room, since)
      if (since !== undefined && missed !== null) {
        replayed = { ...since }
        for (const message of missed) {
          replayed.offset = message.offset ?? replayed.offset
          const delivery = await frameFor(this.#middleware, this.#log, connection, message, encodeJson(message) as string)
          if (delivery !== null) connection.write(delivery.data, delivery.message)
        }
      }
      const { epoch, offset } = await history.position(room)
      return since === undefined ? { epoch, offset } : { epoch, offset, recovered: replayed !== null }
    } catch (error) {
      // The member is in the room whatever happened to its history: it hears live messages from here.
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: the room history could not be read')
      return since === undefined ? {} : { recovered: false }
    } finally {
      this.#holds.release(connection, room, replayed)
    }
  }

  /** The last `limit` messages of a room's history ([] without history). */
  async recent (room: string, limit: number): Promise<ChatMessage[]> {
    return await this.#history?.recent(room, limit) ?? []
  }
}
