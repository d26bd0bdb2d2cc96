/**
 * Room history in Redis, shared by every node (it survives the death of any of them): one script
 * stamps, keeps and publishes each message (HISTORY_PUBLISH), another reads a room's position and
 * messages in one step (HISTORY_READ). Keys and scripts are RedisSchema's.
 */
import type { ChatMessage } from '../../types/protocol.js'
import { encodeBusMessage } from '../cluster/bus.js'
import type { RedisNode } from '../cluster/redis-node.js'
import { HISTORY_PUBLISH, HISTORY_READ } from '../cluster/redis-schema.js'
import { messagesSince, newEpoch, type HistoryOptions, type HistoryPosition, type RoomHistory } from './history.js'

/**
 * The origin of a stamped message on the bus: no node's id, so that every node, the publisher too,
 * delivers it from the channel, in the one order Redis published them.
 */
export const HISTORY_ORIGIN = 'history'

interface RoomLog {
  position: HistoryPosition
  messages: ChatMessage[]
}

export class RedisHistory implements RoomHistory {
  readonly #node: RedisNode
  readonly #options: HistoryOptions
  readonly #busPrefix = encodeBusMessage('chat', HISTORY_ORIGIN, '')

  constructor (node: RedisNode, options: HistoryOptions) {
    this.#node = node
    this.#options = options
  }

  /** Stamps, keeps and publishes `message` to every node (this one included); answers its JSON as published. */
  async publish (message: ChatMessage): Promise<string> {
    const { schema, sharded } = this.#node
    const { room } = message
    return await this.#node.runScript(HISTORY_PUBLISH, [schema.historyPosition(room), schema.historyMessages(room), schema.roomChannel(room)], [
      this.#busPrefix, JSON.stringify(message), newEpoch(), this.#options.size, this.#options.ttl, sharded ? '1' : '0'
    ]) as string
  }

  /** The room's history is gone with it. */
  async forget (room: string): Promise<void> {
    const { schema } = this.#node
    await this.#node.command.del(schema.historyPosition(room), schema.historyMessages(room))
  }

  async position (room: string): Promise<HistoryPosition> {
    return (await this.#read(room, false)).position
  }

  async since (room: string, since: HistoryPosition): Promise<ChatMessage[] | null> {
    const { position, messages } = await this.#read(room, true)
    return messagesSince(messages, position, since)
  }

  async recent (room: string, limit: number): Promise<ChatMessage[]> {
    return (await this.#read(room, true)).messages.slice(-limit)
  }

  /** The room's position, and with `withMessages` the messages it holds (the position alone reads none). */
  async #read (room: string, withMessages: boolean): Promise<RoomLog> {
    const { schema } = this.#node
    const [epoch, offset, now, ...entries] = await this.#node.runScript(HISTORY_READ,
      [schema.historyPosition(room), schema.historyMessages(room)], [newEpoch(), this.#options.ttl, withMessages ? '1' : '0']) as string[]
    const messages: ChatMessage[] = []
    for (const entry of entries) {
      const space = entry.indexOf(' ')
      // Older than the ttl but not yet trimmed (the room has been silent since): no longer held.
      if (Number(now) - Number(entry.slice(0, space)) >= this.#options.ttl) continue
      messages.push(JSON.parse(entry.slice(space + 1)) as ChatMessage)
    }
    return { position: { epoch: String(epoch), offset: Number(offset) }, messages }
  }
}
