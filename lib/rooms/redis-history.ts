/**
 * A stream's history in Redis (a room's messages, or a visitor's pushes), shared by every node, so it
 * survives the death of any of them: one script stamps, keeps and publishes each message
 * (HISTORY_PUBLISH), another reads a stream's position and messages in one step (HISTORY_READ). Keys
 * and scripts are RedisSchema's.
 */
import type { ChatMessage } from '../../types/protocol.js'
import { encodeBusMessage } from '../cluster/bus.js'
import type { RedisLink } from '../cluster/directory.js'
import { HISTORY_FLOOR, HISTORY_PUBLISH, HISTORY_READ } from '../cluster/redis-schema.js'
import type { HistoryRead } from './sequencer.js'
import {
  messagesSince, newEpoch, ROOM_FIELDS, stampChat, UNSTARTED_EPOCH, type Appended, type HistoryOptions, type HistoryPosition, type Kept, type StreamFields, type StreamHistory
} from './history.js'

/**
 * The origin of a stamped message on the bus: no node's id, so that every node, the publisher too,
 * hears it on the channel (the publisher's sequencer drops it there: it delivered it already).
 */
export const HISTORY_ORIGIN = 'history'

/** Where a stream lives in Redis. */
export interface StreamKeys {
  position: (key: string) => string
  messages: (key: string) => string
  channel: (key: string) => string
}

export interface StreamOptions<Item> {
  keys: StreamKeys
  /** The bus kind its messages are published as. */
  kind: string
  fields: StreamFields
  stamp: (item: Item, position: HistoryPosition) => Item
  /** The largest message kept, in bytes (the frame limit); a larger one is published but not kept. */
  largest: number
  /** Started only by a write (a visitor's pushes): until then, and once expired, it reads as unstarted. */
  lazy?: boolean
}

interface StreamLog<Item> {
  position: HistoryPosition
  kept: Array<Kept<Appended<Item>>>
}

/** A room's stream: `offset` and `epoch` in each message, published as `chat` on the room's channel. */
export function roomStream (node: RedisLink, largest: number): StreamOptions<ChatMessage> {
  const { schema } = node
  return {
    keys: { position: (room) => schema.historyPosition(room), messages: (room) => schema.historyMessages(room), channel: (room) => schema.roomChannel(room) },
    kind: 'chat',
    fields: ROOM_FIELDS,
    stamp: stampChat,
    largest
  }
}

export class RedisHistory<Item extends object = ChatMessage> implements StreamHistory<Item> {
  readonly #node: RedisLink
  readonly #options: HistoryOptions
  readonly #stream: StreamOptions<Item>
  readonly #busPrefix: string

  constructor (node: RedisLink, options: HistoryOptions, stream: StreamOptions<Item>) {
    this.#node = node
    this.#options = options
    this.#stream = stream
    this.#busPrefix = encodeBusMessage(stream.kind, HISTORY_ORIGIN, '')
  }

  /**
   * Stamps, keeps and publishes `item` to every node following stream `key` (this one too); answers
   * it stamped, with its JSON as published. `floor`: the last position this node delivered in the stream.
   */
  async publish (key: string, item: Item, floor: HistoryPosition | null): Promise<Appended<Item>> {
    const { keys, fields, largest } = this.#stream
    const { size, ttl, maxBytes } = this.#options
    const [offset, epoch, json] = await this.#node.runScript(HISTORY_PUBLISH, [keys.position(key), keys.messages(key), keys.channel(key)], [
      this.#busPrefix, JSON.stringify(item), newEpoch(), size, ttl, this.#node.sharded ? '1' : '0', maxBytes, largest,
      fields.offset, fields.epoch, floor?.epoch ?? '', floor?.offset ?? 0
    ]) as [number, string, string]
    const position = { epoch, offset: Number(offset) }
    return { item: this.#stream.stamp(item, position), json, position }
  }

  /**
   * Raises each stream's offset to this node's floor in it (the last position it delivered) when Redis
   * came back with less, from an older snapshot (see HISTORY_FLOOR): no offset is handed out twice.
   */
  async raise (floors: Iterable<[key: string, floor: HistoryPosition]>): Promise<void> {
    const raised: Array<Promise<unknown>> = []
    for (const [key, floor] of floors) raised.push(this.#node.runScript(HISTORY_FLOOR, [this.#stream.keys.position(key)], [floor.epoch, floor.offset]))
    await Promise.all(raised)
  }

  /** The stream's history is gone with it. */
  async forget (key: string): Promise<void> {
    const { keys } = this.#stream
    await this.#node.command.del(keys.position(key), keys.messages(key))
  }

  async position (key: string): Promise<HistoryPosition> {
    return (await this.#read(key, ['0'])).position
  }

  async since (key: string, since: HistoryPosition): Promise<Item[] | null> {
    return (await this.after(key, since)).items?.map(({ item }) => item) ?? null
  }

  /** What the history holds after `after` (null when it cannot cover it), with its JSON, and the stream's position. */
  async after (key: string, after: HistoryPosition): Promise<HistoryRead<Appended<Item>>> {
    // From before the stream started: whatever it holds may be after.
    const { position, kept } = await this.#read(key, after.epoch === UNSTARTED_EPOCH ? ['1'] : ['2', after.epoch, after.offset])
    return { items: messagesSince(kept, position, after), position }
  }

  async recent (key: string, limit: number): Promise<Item[]> {
    return (await this.#read(key, ['1'])).kept.slice(-limit).map(({ item }) => item.item)
  }

  /** The stream's position, and the messages `which` asks for (see HISTORY_READ). */
  async #read (key: string, which: Array<string | number>): Promise<StreamLog<Item>> {
    const { keys, fields } = this.#stream
    const [epoch, offset, now, ...entries] = await this.#node.runScript(HISTORY_READ,
      [keys.position(key), keys.messages(key)], [this.#stream.lazy === true ? UNSTARTED_EPOCH : newEpoch(), this.#options.ttl, ...which]) as string[]
    const kept: Array<Kept<Appended<Item>>> = []
    for (const entry of entries) {
      const space = entry.indexOf(' ')
      // Older than the ttl but not yet trimmed (the stream has been silent since): no longer held.
      if (Number(now) - Number(entry.slice(0, space)) >= this.#options.ttl) continue
      const json = entry.slice(space + 1)
      const item = JSON.parse(json) as Record<string, unknown>
      const offset = Number(item[fields.offset])
      kept.push({ offset, item: { item: item as Item, json, position: { epoch: String(item[fields.epoch]), offset } } })
    }
    return { position: { epoch: String(epoch), offset: Number(offset) }, kept }
  }
}
