/**
 * Room history (issue 12): every room message gets an `offset` (1, 2, 3... per room) and the room's
 * `epoch` (the name of its history, new whenever that history was lost), and the last messages are
 * kept, bounded by count and age, so that a client that dropped can ask for what it missed. A store
 * stamps and keeps a message in the same step as it publishes it (in Redis, one script), so the
 * order of offsets is the order of delivery on every node.
 */
import { randomBytes } from 'node:crypto'
import type { ChatMessage, HistoryPosition } from '../../types/protocol.js'

export type { HistoryPosition }

/** The `history` option, resolved. */
export interface HistoryOptions {
  /** The most messages kept per room. */
  size: number
  /** How long a message is kept, in ms. */
  ttl: number
}

export const DEFAULT_HISTORY: HistoryOptions = { size: 100, ttl: 120_000 }

/** What a store with history answers. */
export interface RoomHistory {
  /** The room's epoch and the offset of its latest message (0 when it has none yet). */
  position (room: string): Promise<HistoryPosition>
  /**
   * Every message after `since`, oldest first, when `since` names the room's current epoch and the
   * history still holds all of them; null when it does not (the client has to start over).
   */
  since (room: string, since: HistoryPosition): Promise<ChatMessage[] | null>
  /** The last `limit` messages the history holds, oldest first. */
  recent (room: string, limit: number): Promise<ChatMessage[]>
}

/** A new epoch: random, so that it never repeats one that was lost. */
export function newEpoch (): string {
  return randomBytes(9).toString('base64url')
}

/**
 * The messages of `held` (a room's, oldest first, offsets without holes; the room at `position`)
 * after `since`, or null when `since` is of another epoch or some of them are gone.
 */
export function messagesSince (held: readonly ChatMessage[], position: HistoryPosition, since: HistoryPosition): ChatMessage[] | null {
  if (since.epoch !== position.epoch) return null
  if (since.offset === position.offset) return []
  if (since.offset > position.offset || held.length === 0) return null
  const first = held[0]?.offset ?? 0
  if (since.offset < first - 1) return null
  return held.slice(since.offset - first + 1)
}

/**
 * `message` with its offset and epoch. Built field by field, not spread: the object stays in V8's
 * fast shape, about half the memory of a spread copy (it is kept `size` times per room). Fields that
 * middleware added come after.
 */
function stamp (message: ChatMessage, offset: number, epoch: string): ChatMessage {
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

interface RoomLog {
  epoch: string
  offset: number
  /** Oldest first, with the time each was kept. */
  messages: ChatMessage[]
  keptAt: number[]
}

/**
 * The history of the memory store. A room's log lives as long as the room; its messages go when
 * they are more than `size` or older than `ttl`, checked when the room is written or read and by one
 * sweep for every room (no timer per room). A process that restarts starts new epochs.
 */
export class MemoryHistory implements RoomHistory {
  readonly #options: HistoryOptions
  readonly #logs = new Map<string, RoomLog>()
  #sweep: NodeJS.Timeout | null = null

  constructor (options: HistoryOptions) {
    this.#options = options
  }

  start (): void {
    this.#sweep = setInterval(() => { for (const log of this.#logs.values()) this.#prune(log, Date.now()) }, this.#options.ttl)
    this.#sweep.unref()
  }

  stop (): void {
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
  }

  /** Stamps `message` with the room's next offset and its epoch, and keeps it; returns the stamped message. */
  append (message: ChatMessage): ChatMessage {
    const log = this.#log(message.room)
    const stamped = stamp(message, ++log.offset, log.epoch)
    const now = Date.now()
    log.messages.push(stamped)
    log.keptAt.push(now)
    this.#prune(log, now)
    return stamped
  }

  /** The room's history is gone (the room was destroyed): a room of that name starts a new epoch. */
  forget (room: string): void {
    this.#logs.delete(room)
  }

  /** How many messages are kept, over every room (for tests and the bench). */
  get size (): number {
    let count = 0
    for (const log of this.#logs.values()) count += log.messages.length
    return count
  }

  async position (room: string): Promise<HistoryPosition> {
    const { epoch, offset } = this.#log(room)
    return { epoch, offset }
  }

  async since (room: string, since: HistoryPosition): Promise<ChatMessage[] | null> {
    const log = this.#read(room)
    return messagesSince(log.messages, log, since)
  }

  async recent (room: string, limit: number): Promise<ChatMessage[]> {
    return this.#read(room).messages.slice(-limit)
  }

  #log (room: string): RoomLog {
    let log = this.#logs.get(room)
    if (log === undefined) this.#logs.set(room, log = { epoch: newEpoch(), offset: 0, messages: [], keptAt: [] })
    return log
  }

  #read (room: string): RoomLog {
    const log = this.#log(room)
    this.#prune(log, Date.now())
    return log
  }

  #prune (log: RoomLog, now: number): void {
    const { size, ttl } = this.#options
    let drop = Math.max(0, log.messages.length - size)
    while (drop < log.keptAt.length && now - (log.keptAt[drop] ?? now) >= ttl) drop++
    if (drop === 0) return
    log.messages.splice(0, drop)
    log.keptAt.splice(0, drop)
  }
}
