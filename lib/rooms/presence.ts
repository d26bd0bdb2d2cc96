/**
 * Presence (issue 22): who is in a room, one entry per person rather than per tab. The members of a
 * presence room are grouped by a presence key (the visitor's fingerprint, or what the app's `key`
 * gives, such as its user id): the first connection of a key to join makes a `join`, the last to leave
 * a `leave`, and the ones in between nothing. The store decides both atomically (it holds the room's
 * members on every node) and hands each change to the room's fan-out, the one path room messages take.
 */
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type PresenceList, type PresenceMessage } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import { memberView } from './member-details.js'
import type { RoomMember } from './store.js'

/** The `presence` option as given: which rooms have presence, and the key of a connection. */
export interface PresenceOptions {
  /** The presence rooms: a list, or a test; default every room. */
  rooms?: readonly string[] | ((room: string) => boolean)
  /** The person a connection is (an app's user id, say); default a hash of its fingerprint (`fingerprintKey`), or its id without one. */
  key?: (connection: Connection) => string
}

/** The longest presence key, in characters. */
const MAX_KEY_LENGTH = 256

export class Presence {
  readonly #inRoom: (room: string) => boolean
  readonly #key: (connection: Connection) => string

  constructor ({ rooms, key }: PresenceOptions) {
    if (rooms === undefined) this.#inRoom = () => true
    else if (typeof rooms === 'function') this.#inRoom = rooms
    else {
      const set = new Set(rooms)
      this.#inRoom = (room) => set.has(room)
    }
    this.#key = key ?? ((connection) => connection.fingerprint === null ? connection.id : fingerprintKey(connection.fingerprint))
  }

  /** True when `room` is a presence room. */
  inRoom (room: string): boolean {
    return this.#inRoom(room)
  }

  /**
   * The presence key of `connection`: a non-empty string of at most 256 characters. Refuses the join
   * with `ERRORS.presenceKeyFailed` when the app's `key` throws or gives anything else (logged).
   */
  keyOf (connection: Connection, room: string, log: FastifyBaseLogger): string {
    let key: unknown
    try {
      key = this.#key(connection)
      if (typeof key !== 'string' || key === '' || key.length > MAX_KEY_LENGTH) throw new TypeError(`presence.key must give a non-empty string of at most ${MAX_KEY_LENGTH} characters`)
    } catch (error) {
      log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: presence.key failed; the join is refused')
      throw new RoomError(ERRORS.presenceKeyFailed)
    }
    return key as string
  }
}

/**
 * The default presence key of a visitor: a hash of its fingerprint, the same on every node. Never the
 * fingerprint itself, which every member of the room would see: unsigned, it is the cookie, and a member
 * who set it would be that visitor for `sendToFingerprint`.
 */
export function fingerprintKey (fingerprint: string): string {
  return createHash('sha256').update(fingerprint).digest('base64url').slice(0, 22)
}

/** The list of a presence room from its members (those with a key), as of `version`. */
export function presenceList (members: Iterable<RoomMember>, version: number): PresenceList {
  const keys: PresenceList['keys'] = {}
  for (const member of members) {
    if (member.key === undefined) continue
    ;(keys[member.key] ??= []).push(memberView(member))
  }
  return { version, keys }
}

/** A member of a presence room. */
export type KeyedMember = RoomMember & { key: string }

export function hasKey (member: RoomMember): member is KeyedMember {
  return member.key !== undefined
}

/** The message that tells a presence room's members of a change. */
export function presenceMessage (room: string, event: PresenceMessage['event'], member: KeyedMember, version: number): PresenceMessage {
  return { context: 'presence', room, event, key: member.key, member: memberView(member), version }
}
