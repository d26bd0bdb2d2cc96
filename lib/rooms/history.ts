/**
 * Room history (issue 12): every room message gets an `offset` (1, 2, 3... per room) and the room's
 * `epoch` (the name of its history, new whenever that history was lost), and the last messages are
 * kept, bounded by count, bytes and age, so that a client that dropped can ask for what it missed. A
 * store stamps and keeps a message in the same step as it publishes it (in Redis, one script), so the
 * order of offsets is the order of delivery on every node. A visitor's pushes (`sendToFingerprint`)
 * are a stream of the same kind, per fingerprint, under the same bounds.
 */
import { randomBytes } from 'node:crypto'
import type { ChatMessage, HistoryPosition } from '../../types/protocol.js'

export type { HistoryPosition }

/** The `history` option, resolved. */
export interface HistoryOptions {
  /** The most messages kept per room (and per visitor's push stream). */
  size: number
  /** How long a message is kept, in ms. */
  ttl: number
  /** The most bytes of messages kept per room (and per push stream), the oldest going first. */
  maxBytes: number
}

export const DEFAULT_HISTORY: HistoryOptions = { size: 100, ttl: 120_000, maxBytes: 1024 * 1024 }

/** What a history answers, of a stream of messages (a room's: RoomHistory). */
export interface StreamHistory<Item> {
  /** The stream's epoch and the offset of its latest message (0 when it has none yet). */
  position (key: string): Promise<HistoryPosition>
  /**
   * Every message after `since`, oldest first, when `since` names the stream's current epoch and the
   * history still holds all of them; null when it does not (the client has to start over).
   */
  since (key: string, since: HistoryPosition): Promise<Item[] | null>
  /** The last `limit` messages the history holds, oldest first. */
  recent (key: string, limit: number): Promise<Item[]>
}

/** What a store with history answers. */
export type RoomHistory = StreamHistory<ChatMessage>

/**
 * The epoch of a stream nothing was ever written to (a visitor's pushes, until the first): a reader
 * at offset 0 of it has missed nothing before whatever epoch the stream starts with. Random epochs
 * are 12 characters long: this one is never one of them.
 */
export const UNSTARTED_EPOCH = 'none'

/** A new epoch: random, so that it never repeats one that was lost. */
export function newEpoch (): string {
  return randomBytes(9).toString('base64url')
}

/** A kept message and its offset. */
export interface Kept<Item> {
  offset: number
  item: Item
}

/**
 * The items of `held` (a stream's kept messages, oldest first; the stream at `position`) after
 * `since`, or null when `since` is of another epoch or one of them is not held: trimmed, expired, or
 * never kept (a message too large for the history still takes an offset, and leaves a hole).
 */
export function messagesSince<Item> (held: ReadonlyArray<Kept<Item>>, position: HistoryPosition, since: HistoryPosition): Item[] | null {
  // Before a stream started, nothing of any epoch it has since was missed: all of it is after.
  if (since.epoch === UNSTARTED_EPOCH && since.offset === 0) since = { epoch: position.epoch, offset: 0 }
  if (since.epoch !== position.epoch || since.offset > position.offset) return null
  const missed = position.offset - since.offset
  if (missed === 0) return []
  if (held.length < missed) return null
  const tail = held.slice(held.length - missed)
  // Kept in offset order: the last `missed` are exactly the ones after `since` when none is missing.
  for (const [index, { offset }] of tail.entries()) if (offset !== since.offset + 1 + index) return null
  return tail.map(({ item }) => item)
}

/**
 * `message` with its offset and epoch. Built field by field, not spread: the object stays in V8's
 * fast shape. Fields that middleware added come after.
 */
export function stampChat (message: ChatMessage, { offset, epoch }: HistoryPosition): ChatMessage {
  const stamped: ChatMessage = { context: message.context, room: message.room, from: message.from, message: message.message, sentAt: message.sentAt, offset, epoch }
  for (const key in message) if (!(key in stamped)) (stamped as unknown as Record<string, unknown>)[key] = (message as unknown as Record<string, unknown>)[key]
  return stamped
}

/** True when `value` is a position a client may send: a string epoch and a non-negative integer offset. */
export function isHistoryPosition (value: unknown): value is HistoryPosition {
  if (typeof value !== 'object' || value === null) return false
  const { epoch, offset } = value as Record<string, unknown>
  return typeof epoch === 'string' && epoch.length > 0 && epoch.length <= 64 && Number.isSafeInteger(offset) && (offset as number) >= 0
}

/** How a stream's messages carry their place: rooms' `offset`/`epoch`, pushes' `pushOffset`/`pushEpoch`. */
export interface StreamFields {
  offset: string
  epoch: string
}

export const ROOM_FIELDS: StreamFields = { offset: 'offset', epoch: 'epoch' }
export const PUSH_FIELDS: StreamFields = { offset: 'pushOffset', epoch: 'pushEpoch' }

/** What a stream's history answers when it stamps and keeps a message: the message stamped, and its JSON. */
export interface Appended<Item> {
  item: Item
  json: string
  position: HistoryPosition
}

interface StreamLog {
  epoch: string
  offset: number
  /** Oldest first: each message as JSON (kept immutable: what was said, whatever changes its object later). */
  kept: Array<Kept<string> & { bytes: number, keptAt: number }>
  bytes: number
}

/**
 * A history in memory, of a room's messages or of a visitor's pushes. A stream's log lives until
 * `forget` (a room's: as long as the room); its messages go when they are more than `size`, more
 * than `maxBytes` in all, or older than `ttl`, checked when the stream is written or read and by one
 * sweep of every stream (no timer per stream). A message larger than `largest` bytes (the frame
 * limit) or than `maxBytes` takes an offset but is not kept. A process that restarts starts new epochs.
 */
export class MemoryHistory<Item extends object = ChatMessage> implements StreamHistory<Item> {
  readonly #options: HistoryOptions
  readonly #largest: number
  readonly #stamp: (item: Item, position: HistoryPosition) => Item
  readonly #logs = new Map<string, StreamLog>()
  /**
   * Streams made only by a write, and dropped by the sweep once nothing of them is kept (a visitor's
   * pushes): until then they read as unstarted (UNSTARTED_EPOCH, offset 0).
   */
  readonly #lazy: boolean
  #sweep: NodeJS.Timeout | null = null

  constructor (options: HistoryOptions, { largest = Infinity, stamp, lazy = false }: {
    largest?: number
    stamp?: (item: Item, position: HistoryPosition) => Item
    lazy?: boolean
  } = {}) {
    this.#options = options
    this.#largest = Math.min(largest, options.maxBytes)
    this.#stamp = stamp ?? (stampChat as unknown as (item: Item, position: HistoryPosition) => Item)
    this.#lazy = lazy
  }

  start (): void {
    this.#sweep = setInterval(() => {
      const now = Date.now()
      for (const [key, log] of this.#logs) {
        this.#prune(log, now)
        if (this.#lazy && log.kept.length === 0) this.#logs.delete(key)
      }
    }, this.#options.ttl)
    this.#sweep.unref()
  }

  stop (): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
  }

  /** Stamps `item` with stream `key`'s next offset and its epoch, and keeps it (when it is not too large). */
  append (key: string, item: Item): Appended<Item> {
    const log = this.#log(key)
    const position = { epoch: log.epoch, offset: ++log.offset }
    const stamped = this.#stamp(item, position)
    const json = JSON.stringify(stamped)
    const bytes = Buffer.byteLength(json)
    if (bytes <= this.#largest) {
      const now = Date.now()
      log.kept.push({ offset: position.offset, item: json, bytes, keptAt: now })
      log.bytes += bytes
      this.#prune(log, now)
    }
    return { item: stamped, json, position }
  }

  /** The stream's history is gone (the room was destroyed): a stream of that key starts a new epoch. */
  forget (key: string): void {
    this.#logs.delete(key)
  }

  /** How many messages are kept, over every stream (for tests and the bench). */
  get size (): number {
    let count = 0
    for (const log of this.#logs.values()) count += log.kept.length
    return count
  }

  /** How many bytes of messages are kept, over every stream (for tests). */
  get bytes (): number {
    let bytes = 0
    for (const log of this.#logs.values()) bytes += log.bytes
    return bytes
  }

  async position (key: string): Promise<HistoryPosition> {
    const { epoch, offset } = this.#read(key)
    return { epoch, offset }
  }

  async since (key: string, since: HistoryPosition): Promise<Item[] | null> {
    const log = this.#read(key)
    const kept = messagesSince(log.kept, log, since)
    return kept === null ? null : kept.map((json) => JSON.parse(json) as Item)
  }

  async recent (key: string, limit: number): Promise<Item[]> {
    return this.#read(key).kept.slice(-limit).map(({ item }) => JSON.parse(item) as Item)
  }

  #log (key: string): StreamLog {
    let log = this.#logs.get(key)
    if (log === undefined) this.#logs.set(key, log = { epoch: newEpoch(), offset: 0, kept: [], bytes: 0 })
    return log
  }

  #read (key: string): StreamLog {
    const log = this.#lazy ? this.#logs.get(key) : this.#log(key)
    if (log === undefined) return { epoch: UNSTARTED_EPOCH, offset: 0, kept: [], bytes: 0 }
    this.#prune(log, Date.now())
    return log
  }

  #prune (log: StreamLog, now: number): void {
    const { size, ttl, maxBytes } = this.#options
    const { kept } = log
    let drop = 0
    let bytes = log.bytes
    while (drop < kept.length) {
      const oldest = kept[drop] as StreamLog['kept'][number]
      if (kept.length - drop <= size && bytes <= maxBytes && now - oldest.keptAt < ttl) break
      bytes -= oldest.bytes
      drop++
    }
    if (drop === 0) return
    kept.splice(0, drop)
    log.bytes = bytes
  }
}
