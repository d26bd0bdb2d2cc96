/**
 * Rooms of one process, in memory.
 */
import type { ChatMessage } from '../../types/protocol.js'
import type { JoinResult, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

export class MemoryRoomStore implements RoomStore {
  readonly #rooms = new Map<string, Map<string, RoomMember>>()
  #events: RoomStoreEvents | null = null

  async start (events: RoomStoreEvents): Promise<void> {
    this.#events = events
  }

  async close (): Promise<void> {
    this.#events = null
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
    this.#events?.deliver(message)
  }
}
