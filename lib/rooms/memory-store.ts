/**
 * Rooms of one process, in memory.
 */
import type { ChatMessage, PresenceList, PresenceMessage } from '../../types/protocol.js'
import { MemoryHistory, type HistoryOptions } from './history.js'
import { hasKey, presenceList, presenceMessage, type KeyedMember } from './presence.js'
import type { JoinResult, MemberCounts, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

interface MemoryRoom {
  readonly members: Map<string, RoomMember>
  /** Presence key -> how many members have it. */
  readonly keys: Map<string, number>
  /** Grows with every presence change of the room. */
  version: number
}

export class MemoryRoomStore implements RoomStore {
  readonly #rooms = new Map<string, MemoryRoom>()
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
    this.#rooms.set(room, { members: new Map(), keys: new Map(), version: 0 })
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
    const state = this.#rooms.get(room)
    if (state === undefined) return 'missing'
    if (state.members.has(member.id)) return 'already'
    state.members.set(member.id, member)
    if (hasKey(member)) {
      const count = state.keys.get(member.key) ?? 0
      state.keys.set(member.key, count + 1)
      if (count === 0) this.#tell(state, room, 'join', member)
    }
    return 'joined'
  }

  async leave (room: string, memberId: string): Promise<boolean> {
    const state = this.#rooms.get(room)
    const member = state?.members.get(memberId)
    if (state === undefined || member === undefined) return false
    state.members.delete(memberId)
    if (hasKey(member)) {
      const count = (state.keys.get(member.key) ?? 1) - 1
      if (count > 0) state.keys.set(member.key, count)
      else {
        state.keys.delete(member.key)
        this.#tell(state, room, 'leave', member)
      }
    }
    return true
  }

  async update (room: string, member: RoomMember): Promise<boolean> {
    const state = this.#rooms.get(room)
    if (state === undefined || !state.members.has(member.id)) return false
    state.members.set(member.id, member)
    if (hasKey(member)) this.#tell(state, room, 'update', member)
    return true
  }

  async members (room: string): Promise<RoomMember[] | null> {
    const state = this.#rooms.get(room)
    return state === undefined ? null : [...state.members.values()]
  }

  async presence (room: string): Promise<PresenceList | null> {
    const state = this.#rooms.get(room)
    return state === undefined ? null : presenceList(state.members.values(), state.version)
  }

  async counts (room: string): Promise<MemberCounts | null> {
    const state = this.#rooms.get(room)
    return state === undefined ? null : { members: state.members.size, keys: state.keys.size }
  }

  async publish (message: ChatMessage): Promise<void> {
    if (this.history === null) return this.#events?.deliver(message)
    const { item, json } = this.history.append(message.room, message)
    this.#events?.deliver(item, json)
  }

  /** A presence change, decided in the same step as the membership change: in order, once. */
  #tell (state: MemoryRoom, room: string, event: PresenceMessage['event'], member: KeyedMember): void {
    state.version++
    this.#events?.presence(presenceMessage(room, event, member, state.version))
  }
}
