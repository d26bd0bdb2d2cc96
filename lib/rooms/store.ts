/**
 * Where rooms live. One process keeps them in memory (MemoryRoomStore); a cluster shares them
 * through Redis. Either way the store holds room existence and membership, and delivers what is
 * published to a room to the nodes that have members in it.
 */
import type { ChatMessage, HistoryPosition, PresenceList, PresenceMessage } from '../../types/protocol.js'
import type { RoomHistory } from './history.js'

export interface RoomMember {
  id: string
  joinedAt: number
  /** What `memberDetails` returned for this member, when it is set; every node's room view shows it. */
  details?: Record<string, unknown>
  /** In a presence room: the person it is (presence.ts), whose first join and last leave are told to the room. */
  key?: string
}

export type JoinResult = 'joined' | 'already' | 'missing'

/** How many members a room has, and how many presence keys among them. */
export interface MemberCounts {
  members: number
  keys: number
}

/** What the store tells its node. */
export interface RoomStoreEvents {
  /** A chat message published to a room that has members on this node; `json` is its encoding when the store has it. */
  deliver (message: ChatMessage, json?: string): void
  /** A room was destroyed (here or on another node): its members on this node must leave it. */
  destroyed (room: string): void
  /** A member of a dead node was removed from a room (by this node, which reaped that node). */
  departed (room: string, memberId: string): void
  /**
   * Messages of a room were lost for this node's members (its channel missed them and the history no
   * longer holds them); the room goes on after `position`. Stores that lose nothing never call it.
   */
  lost? (room: string, position: HistoryPosition): void
  /** A change of who is in a presence room (the first join or last leave of a key, or new details), once per change; `encoded`: its JSON, when the store has it. */
  presence (message: PresenceMessage, encoded?: string): void
}

/**
 * This node's members, as their one owner (rooms/membership.ts) keeps them: what a shared store
 * writes back after an outage, and how it knows which rooms to listen to. The owner lists a member
 * before it asks the store to add it, and stops listing it before it asks the store to remove it, so
 * a write-back that reads them once, then writes without awaiting, comes before or after each change.
 */
export interface LocalMembers {
  /** The rooms with members on this node. */
  rooms (): Iterable<string>
  /** The room's members on this node. */
  members (room: string): Iterable<RoomMember>
  /** True when `memberId` (or, without it, anyone) is a member of `room` on this node. */
  has (room: string, memberId?: string): boolean
}

/**
 * Membership changes are always made by the node that holds the connection, so a store can tell
 * which rooms have members on its node.
 */
export interface RoomStore {
  /**
   * The rooms' history, when the store keeps one: then `publish` stamps every message with its
   * room's `offset` and `epoch` and keeps it, in the same step as it publishes it.
   */
  readonly history?: RoomHistory | null
  /** `members`: this node's members, which a store shared by nodes reads rather than keep a copy. */
  start (events: RoomStoreEvents, members: LocalMembers): Promise<void>
  close (): Promise<void>
  /** Creates the room; false when it already existed. */
  create (room: string): Promise<boolean>
  /** Destroys the room and tells every node (`destroyed`); false when there was no such room. */
  destroy (room: string): Promise<boolean>
  exists (room: string): Promise<boolean>
  list (): Promise<string[]>
  /** Adds a member of this node (its owner lists it already), atomically: never twice, never to a missing room (see `leave` for presence). */
  join (room: string, member: RoomMember): Promise<JoinResult>
  /**
   * Removes a member of this node (its owner lists it no longer); false when it was not a member. A
   * member with a presence `key` that was its key's last in the room makes a `leave` (events.presence);
   * on joining, its key's first makes a `join`. The store decides that atomically, on every node.
   */
  leave (room: string, memberId: string): Promise<boolean>
  /** Replaces the details of a member of this node; with a presence key, tells the room (`update`). False when it was not a member. */
  update (room: string, member: RoomMember): Promise<boolean>
  /** The room's members on every node, or null when there is no such room. */
  members (room: string): Promise<RoomMember[] | null>
  /** Who is in the room, by presence key, with the room's presence version, read at once; null when there is no such room. */
  presence (room: string): Promise<PresenceList | null>
  /** How many members the room has, and presence keys (when it has presence), without listing them; null when there is no such room. */
  counts (room: string): Promise<MemberCounts | null>
  /** Delivers `message` to the room's members on every node, in the order published. */
  publish (message: ChatMessage): Promise<void>
}
