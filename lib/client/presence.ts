/**
 * The client's presence lists (issue 22): per presence room, who is here, one entry per presence key
 * with its connections' details. The list comes whole in the `roomAdd` reply (as of the room's presence
 * version then); the changes sent after it are applied on top, each at most once and never over a
 * newer one: a change at or below the list's version is in the list already, and one at or below the
 * last change applied to its key came late (nodes tell their own changes first).
 */
import type { PresenceList, PresenceMessage, RoomMemberView } from '../../types/protocol.js'

/** Changes that come while the list is on its way: more would be a server that never answers. */
const MAX_PENDING = 10_000
/** Keys that left and are remembered with their last version, to set aside a join that came late. */
const MAX_GONE = 1000

export type PresenceMembers = Record<string, RoomMemberView[]>

class RoomPresence {
  /** The list's version; null while a `roomAdd` reply is awaited (the changes meanwhile wait). */
  version: number | null = null
  keys = new Map<string, RoomMemberView[]>()
  /** Per key, the version of the last change applied: of keys here, then of keys gone (at most MAX_GONE). */
  versions = new Map<string, number>()
  pending: PresenceMessage[] = []
}

export class PresenceLists {
  readonly #rooms = new Map<string, RoomPresence>()

  /** Who is in `room` as the client knows it, or null when it has no list of the room. */
  view (room: string): PresenceMembers | null {
    const presence = this.#rooms.get(room)
    if (presence === undefined || (presence.version === null && presence.keys.size === 0)) return null
    return Object.fromEntries([...presence.keys].map(([key, metas]) => [key, metas.map((meta) => ({ ...meta }))]))
  }

  /** A `roomAdd` of `room` is on its way: its changes wait for the list (the one known, if any, shows meanwhile). */
  expect (room: string): void {
    const presence = this.#rooms.get(room) ?? new RoomPresence()
    presence.version = null
    presence.pending = []
    this.#rooms.set(room, presence)
  }

  /** The `roomAdd` reply of `room` came: its list replaces the one known (none: not a presence room). True when there is one. */
  listed (room: string, list: unknown): boolean {
    const pending = this.#rooms.get(room)?.pending ?? []
    if (!isList(list)) {
      this.#rooms.delete(room)
      return false
    }
    const presence = new RoomPresence()
    presence.version = list.version
    for (const [key, metas] of Object.entries(list.keys)) {
      if (!Array.isArray(metas)) continue
      presence.keys.set(key, metas)
      presence.versions.set(key, list.version)
    }
    this.#rooms.set(room, presence)
    for (const change of pending) apply(presence, change)
    return true
  }

  /** The client left `room`: its list goes. */
  forget (room: string): void {
    this.#rooms.delete(room)
  }

  /** A change of a room's presence; true when it changed the list (then the client tells its listeners). */
  apply (change: PresenceMessage): boolean {
    const presence = this.#rooms.get(change.room)
    if (presence === undefined) return false
    if (presence.version === null) {
      if (presence.pending.length < MAX_PENDING) presence.pending.push(change)
      return false
    }
    return apply(presence, change)
  }
}

function apply (presence: RoomPresence, { event, key, member, version }: PresenceMessage): boolean {
  if (version <= (presence.version as number) || version <= (presence.versions.get(key) ?? -Infinity)) return false
  // Moved to the end: the oldest of the keys gone are forgotten first.
  presence.versions.delete(key)
  presence.versions.set(key, version)
  if (event === 'leave') {
    presence.keys.delete(key)
    forgetOldest(presence)
    return true
  }
  const metas = (presence.keys.get(key) ?? []).filter((meta) => meta.id !== member.id)
  presence.keys.set(key, [...metas, member])
  return true
}

function forgetOldest (presence: RoomPresence): void {
  let gone = presence.versions.size - presence.keys.size
  for (const key of presence.versions.keys()) {
    if (gone <= MAX_GONE) return
    if (presence.keys.has(key)) continue
    presence.versions.delete(key)
    gone--
  }
}

/** A reply's list, of the shape the client keeps (PROTOCOL.md 6, Presence); none (not a presence room) or anything else is no list. */
function isList (list: unknown): list is PresenceList {
  if (typeof list !== 'object' || list === null) return false
  const { version, keys } = list as Partial<PresenceList>
  return typeof version === 'number' && typeof keys === 'object' && keys !== null
}
