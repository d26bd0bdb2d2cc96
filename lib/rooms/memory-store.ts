/**
 * Rooms of one process, in memory.
 */
import type { ChatMessage } from '../../types/protocol.js'
import { MemoryHistory, type HistoryOptions } from './history.js'
import type { JoinResult, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

export class MemoryRoomStore implements RoomStore {
  readonly #rooms = new Map<string, Map<string, RoomMember>>()
  #events: RoomStoreEvents | null = null
  readonly history: MemoryHistory | null

  /**
   * `history`: how much of each room's history to keep; false (the default for a store made by hand):
   * none. `largest`: the largest message kept, in bytes (the frame limit); a larger one is delivered only.
   */
  constructor ({ history = false, largest }: { history?: HistoryOptions | false, largest?: number } = {}) {
    this.history = history === false ? null : new MemoryHistory(history, { largest })
  }

  async start (events: RoomStoreEvents): Promise<void> {
    this.#events = events
    this.history?.start()
  }

  async close (): Promise<void> {
    this.#events = null
    this.history?.stop()
  }

  async create (room: string): Promise<boolean> {
    if (this.#rooms.has(room)) return false
    this.#rooms.set(room, new Map())
    return true
  }

  async destroy (room: string): Promise<boolean> {
    if (!this.#rooms.has(room)) return false
    this.#events?.destroyed(room)
    this.#rooms.delete(room)
    this.history?.forget(room)
    return true
  }

  async exists (room: string): Promise<boolean> {
    return this.#rooms.has(room)
  }

  async list (): Promise<string[]> {
    return [...this.#rooms.keys()]
  }

  async join (room: string, member: RoomMember): Promise<JoinResult> {
    const members = this.#rooms.get(room)
    if (members === undefined) return 'missing'
    if (members.has(member.id)) return 'already'
    members.set(member.id, member)
    return 'joined'
  }

  async leave (room: string, memberId: string): Promise<boolean> {
    return this.#rooms.get(room)?.delete(memberId) ?? false
  }

  async members (room: string): Promise<RoomMember[] | null> {
    const members = this.#rooms.get(room)
    return members === undefined ? null : [...members.values()]
  }

  async publish (message: ChatMessage): Promise<void> {
    if (this.history === null) return this.#events?.deliver(message)
    const { item, json } = this.history.append(message.room, message)
    this.#events?.deliver(item, json)
  }
}
