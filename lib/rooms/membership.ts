/**
 * This node's room membership, and its one owner: which connections are in which room, with the
 * RoomMember each joined with, and each connection's `rooms`. Changes run one after another per
 * connection, in the order asked: a client's `roomAdd`, `roomLeave`, `roomAdd` sent without waiting
 * mean in, out, in, and a closed connection's departure queues behind the changes in flight, so it
 * always ends out of every room. A store shared by nodes reads the members here (`LocalMembers`)
 * to write them back after an outage; it keeps no copy.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type HistoryPosition, type PresenceList, type RoomAddFields } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import type { CatchUp } from './catch-up.js'
import { makeMemberDetails, type MemberDetails } from './member-details.js'
import type { ChatMiddlewareChain } from './middleware.js'
import type { Presence } from './presence.js'
import { SerialQueues } from './serial-queues.js'
import type { LocalMembers, RoomMember, RoomStore } from './store.js'

/** A connection's membership of one room. */
export interface LocalMember {
  readonly connection: Connection
  /** What the store holds for it. */
  readonly member: RoomMember
  /** False while the store adds it: then it is listed for the store, but gets no room message yet. */
  readonly hearing: boolean
}

interface MutableMember extends LocalMember {
  hearing: boolean
  member: RoomMember
}

export interface MembershipOptions {
  store: RoomStore
  middleware: ChatMiddlewareChain
  catchUp: CatchUp
  /** What a member shows in `roomView` besides `id` and `joinedAt`; null: nothing. */
  memberDetails: MemberDetails | null
  /** Which rooms have presence, and the key of a connection; null: none has. */
  presence: Presence | null
  log: FastifyBaseLogger
}

export class Membership implements LocalMembers {
  readonly #store: RoomStore
  readonly #middleware: ChatMiddlewareChain
  readonly #catchUp: CatchUp
  readonly #memberDetails: MemberDetails | null
  readonly #presence: Presence | null
  readonly #log: FastifyBaseLogger
  /** Room -> connection id -> its membership. */
  readonly #rooms = new Map<string, Map<string, MutableMember>>()
  /** Membership changes, per connection. */
  readonly #changes = new SerialQueues()

  constructor ({ store, middleware, catchUp, memberDetails, presence, log }: MembershipOptions) {
    this.#store = store
    this.#middleware = middleware
    this.#catchUp = catchUp
    this.#memberDetails = memberDetails
    this.#presence = presence
    this.#log = log
  }

  /** The room's members here, for fan-out (those with `hearing` false are still joining). */
  of (room: string): ReadonlyMap<string, LocalMember> | undefined {
    return this.#rooms.get(room)
  }

  // ----- LocalMembers: what a store reads ---------------------------------------------------------

  rooms (): Iterable<string> {
    return this.#rooms.keys()
  }

  * members (room: string): Iterable<RoomMember> {
    for (const { member } of this.#rooms.get(room)?.values() ?? []) yield member
  }

  /** How many rooms have a member here, and how many memberships they hold, for the metrics. */
  counts (): { rooms: number, members: number } {
    let members = 0
    for (const room of this.#rooms.values()) members += room.size
    return { rooms: this.#rooms.size, members }
  }

  has (room: string, memberId?: string): boolean {
    const members = this.#rooms.get(room)
    return members !== undefined && (memberId === undefined || members.has(memberId))
  }

  // ----- changes ------------------------------------------------------------------------------------

  /**
   * Joins `room`. With history on, answers the room's position, and with `since` (the position of
   * the last message the client has) first writes every message after it, when the history still
   * holds them all (`recovered: true`). In a presence room, answers who is here too, unless `withList` is false.
   */
  join (connection: Connection, room: string, since?: HistoryPosition, withList = true): Promise<RoomAddFields> {
    return this.#changes.run(connection.id, async () => {
      // A closed connection joins nothing: its departure has been queued (or done) already.
      if (!connection.open) throw new RoomError(ERRORS.connectionNotFound(connection.id))
      if (connection.rooms.includes(room)) throw new RoomError(ERRORS.alreadyInRoom)
      if (!await this.#store.exists(room)) throw new RoomError(ERRORS.roomNotFound)
      await this.#middleware.join(connection, room)
      // Listed before the store hears of it: a write-back meanwhile keeps it.
      const joining: MutableMember = { connection, member: await this.#member(connection, room), hearing: false }
      let members = this.#rooms.get(room)
      if (members === undefined) this.#rooms.set(room, members = new Map())
      members.set(connection.id, joining)
      let result
      try {
        result = await this.#store.join(room, joining.member)
      } catch (error) {
        // Whatever of the join reached the store is undone.
        this.#forget(connection, room)
        this.#store.leave(room, connection.id).catch(() => {})
        throw error
      }
      // Not listed any more: the room was destroyed meanwhile.
      if (result === 'joined' && this.#rooms.get(room)?.get(connection.id) !== joining) result = 'missing'
      if (result !== 'joined') {
        this.#forget(connection, room)
        throw new RoomError(result === 'already' ? ERRORS.alreadyInRoom : ERRORS.roomNotFound)
      }
      // Held from the moment it hears the room, so that no live message slips past the replay.
      const holding = this.#catchUp.hold(connection, room)
      joining.hearing = true
      connection.rooms.push(room)
      // Read once it hears the room: a change after the read reaches it, one before is in the list.
      const presence = joining.member.key === undefined || !withList ? undefined : this.#presenceList(room)
      const fields = holding === null ? {} : await this.#catchUp.replay(holding, since)
      const list = await presence
      return list === undefined || list === null ? fields : { ...fields, presence: list }
    })
  }

  /**
   * Makes the member details of `connection` again (the `memberDetails` option) in `room`, or in every
   * room it is in, and tells the presence rooms (`update`), in its turn among its membership changes.
   */
  update (connection: Connection, room?: string): Promise<void> {
    return this.#changes.run(connection.id, async () => {
      if (room !== undefined && !connection.rooms.includes(room)) throw new RoomError(ERRORS.notInRoom)
      await Promise.all((room === undefined ? [...connection.rooms] : [room]).map(async (joined) => {
        const local = this.#rooms.get(joined)?.get(connection.id)
        if (local === undefined) return
        const member: RoomMember = { ...local.member, ...await this.#details(connection, joined) }
        // Listed before the store hears of it, as a join is: a write-back meanwhile writes the new details.
        local.member = member
        await this.#store.update(joined, member)
      }))
    })
  }

  leave (connection: Connection, room: string): Promise<void> {
    return this.#changes.run(connection.id, async () => {
      if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notInRoom)
      await this.#leave(connection, room, false)
    })
  }

  /**
   * Leaves every room of a connection that has closed, once the membership changes it had in flight
   * are done: its `leave` middleware runs for each room, and cannot keep it in.
   */
  async leaveAll (connection: Connection): Promise<void> {
    await this.#changes.run(connection.id, () =>
      Promise.all([...connection.rooms].map((room) => this.#leave(connection, room, true))))
  }

  /** True while membership changes of `connection` are queued or running. */
  changing (connection: Connection): boolean {
    return this.#changes.busy(connection.id)
  }

  /** Resolves once the membership changes of `connection` asked so far are done. */
  settled (connection: Connection): Promise<void> {
    return this.#changes.idle(connection.id)
  }

  /** A room was destroyed: its members here leave it (their `leave` middleware runs, and cannot refuse). */
  destroyed (room: string): void {
    const members = this.#rooms.get(room)
    if (members === undefined) return
    for (const { connection, hearing } of [...members.values()]) {
      this.#forget(connection, room)
      if (!hearing) continue
      this.#middleware.leave(connection, room).catch((error: unknown) =>
        this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: leave middleware failed for a destroyed room'))
    }
  }

  /** A member of a dead node was removed: the `leave` middleware hears of it here. */
  departed (room: string, memberId: string): void {
    this.#middleware.leave({ id: memberId, departed: true }, room).catch((error: unknown) =>
      this.#log.warn({ err: error, connection: memberId, room }, 'fastify-actionhero-ws: leave middleware failed for a departed member'))
  }

  /** The membership a connection joins with: its details when the `memberDetails` option is set, its presence key in a presence room. */
  async #member (connection: Connection, room: string): Promise<RoomMember> {
    const member: RoomMember = { id: connection.id, joinedAt: Date.now(), ...await this.#details(connection, room) }
    if (this.#presence?.inRoom(room) === true) member.key = this.#presence.keyOf(connection, room, this.#log)
    return member
  }

  async #details (connection: Connection, room: string): Promise<Pick<RoomMember, 'details'>> {
    return this.#memberDetails === null ? {} : { details: await makeMemberDetails(this.#memberDetails, connection, room, this.#log) }
  }

  /** The presence list for the reply of a join; a store that cannot read it is logged, and the join stands without it. */
  async #presenceList (room: string): Promise<PresenceList | null> {
    try {
      return await this.#store.presence(room)
    } catch (error) {
      this.#log.warn({ err: error, room }, 'fastify-actionhero-ws: the presence list could not be read for a join')
      return null
    }
  }

  /**
   * Leaves `room`; `force` (a connection that is gone) leaves even when `leave` middleware throws.
   * Once the middleware let it go, the connection is out whatever the store answers: a store that
   * could not record it writes this node's members back when it can, and this one is not among them.
   */
  async #leave (connection: Connection, room: string, force: boolean): Promise<void> {
    try {
      await this.#middleware.leave(connection, room)
    } catch (error) {
      if (!force) throw error
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: leave middleware failed for a departing connection')
    }
    // Out before the store hears of it: a write-back meanwhile leaves it out.
    this.#forget(connection, room)
    try {
      await this.#store.leave(room, connection.id)
    } catch (error) {
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: the room store could not record a departure yet')
    }
  }

  #forget (connection: Connection, room: string): void {
    const members = this.#rooms.get(room)
    const left = members?.get(connection.id)
    if (members === undefined || left === undefined) return
    members.delete(connection.id)
    if (members.size === 0) this.#rooms.delete(room)
    if (!left.hearing) return
    const index = connection.rooms.indexOf(room)
    if (index !== -1) connection.rooms.splice(index, 1)
  }
}
