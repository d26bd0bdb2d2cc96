/**
 * The `memberDetails` option: what a member shows in `roomView` besides its `id` and `joinedAt`
 * (ActionHero's `api.chatRoom.generateMemberDetails`). Made once, when a connection joins a room, and
 * stored with the membership, so every node of a cluster shows the same.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type RoomMembers, type RoomMemberView } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import { isPlainObject } from '../options.js'
import type { RoomMember } from './store.js'

/** Makes the details of a connection that joins a room: a plain JSON object, sync or async. */
export type MemberDetails = (connection: Connection) => Record<string, unknown> | Promise<Record<string, unknown>>

/**
 * Runs `memberDetails` for `connection`: a JSON copy of its result without `id` and `joinedAt`, which
 * are the room's. Rejects with `ERRORS.memberDetailsFailed` when it throws or gives anything but a
 * plain object that survives JSON (a circular or BigInt value, say); the cause is logged, not sent.
 */
export async function makeMemberDetails (memberDetails: MemberDetails, connection: Connection, room: string, log: FastifyBaseLogger): Promise<Record<string, unknown>> {
  let details: unknown
  try {
    const made: unknown = await memberDetails(connection)
    if (!isPlainObject(made)) throw new TypeError(`memberDetails must give a plain object; got ${made === null ? 'null' : typeof made}`)
    // What a Redis store would give back, here too: the same details on every node and every store.
    details = JSON.parse(JSON.stringify(made))
  } catch (error) {
    log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: memberDetails failed; the join is refused')
    throw new RoomError(ERRORS.memberDetailsFailed)
  }
  const { id, joinedAt, ...rest } = details as Record<string, unknown>
  return rest
}

/** A member as `roomView` shows it: `id` and `joinedAt` first, then its details. */
export function memberView ({ id, joinedAt, details }: RoomMember): RoomMemberView {
  return details === undefined ? { id, joinedAt } : { id, joinedAt, ...details }
}

/** The `roomView` answer: a room's members by id, and how many (and presence keys, in a presence room: `presence`; by default when a member has a key). */
export function roomMembersView (room: string, members: readonly RoomMember[], presence = members.some((member) => member.key !== undefined)): RoomMembers {
  const byId: RoomMembers['members'] = {}
  const keys = new Set<string>()
  for (const member of members) {
    byId[member.id] = memberView(member)
    if (member.key !== undefined) keys.add(member.key)
  }
  return presence ? { room, members: byId, membersCount: members.length, keysCount: keys.size } : { room, members: byId, membersCount: members.length }
}
