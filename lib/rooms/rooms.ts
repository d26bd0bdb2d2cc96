/**
 * Chat rooms (`fastify.actionheroWs.rooms`): membership of this node's connections, `say` and
 * `broadcast` through the chat middleware, and fan-out to the local members of a room. Room state
 * itself lives in a `RoomStore`, in memory or shared by a cluster.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type ChatMessage, type RoomMembers } from '../../types/protocol.js'
import type { Cluster, MembershipChange } from '../cluster/cluster.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import { escapeLineTerminators } from '../json.js'
import { isRoomName } from '../options.js'
import { makeMemberDetails, memberView, type MemberDetails } from './member-details.js'
import { ChatMiddlewareChain, type BroadcastSender, type ChatMiddleware } from './middleware.js'
import type { RoomMember, RoomStore } from './store.js'

export interface RoomsOptions {
  store: RoomStore
  /** This node's connections, by id. */
  connections: ReadonlyMap<string, Connection>
  /** The other nodes, when there are any: membership changes for their connections go through it. */
  cluster: Cluster | null
  echoSay: boolean
  /** What a member shows in `roomView` besides `id` and `joinedAt`; null: nothing. */
  memberDetails?: MemberDetails | null
  log: FastifyBaseLogger
}

export class Rooms {
  readonly #store: RoomStore
  readonly #connections: ReadonlyMap<string, Connection>
  readonly #cluster: Cluster | null
  readonly #echoSay: boolean
  readonly #memberDetails: MemberDetails | null
  readonly #log: FastifyBaseLogger
  readonly #middleware = new ChatMiddlewareChain()
  /** Room -> its members on this node, for fan-out. */
  readonly #local = new Map<string, Set<Connection>>()
  /**
   * Membership changes per connection, applied one after another in the order asked: a client's
   * `roomAdd`, `roomLeave`, `roomAdd` sent without waiting mean in, out, in. A closed connection's
   * departure queues behind the changes in flight, so it always ends out of every room.
   */
  readonly #membership = new SerialQueues()
  // Per-room queues keep messages in order while async middleware runs: one for what members send,
  // one for what this node delivers.
  readonly #sending = new SerialQueues()
  readonly #delivering = new SerialQueues()

  constructor ({ store, connections, cluster, echoSay, memberDetails = null, log }: RoomsOptions) {
    this.#store = store
    this.#connections = connections
    this.#cluster = cluster
    this.#echoSay = echoSay
    this.#memberDetails = memberDetails
    this.#log = log
  }

  /** Starts the store and creates the rooms of the `rooms` option. */
  async start (rooms: readonly string[]): Promise<void> {
    await this.#store.start({
      deliver: (message, json) => this.#deliver(message, json),
      destroyed: (room) => this.#destroyed(room),
      departed: (room, memberId) => this.#departed(room, memberId)
    })
    for (const room of rooms) await this.#store.create(room)
  }

  async close (): Promise<void> {
    await this.#store.close()
  }

  // ----- the public API -------------------------------------------------------------------------

  /** Creates a room; false when it already existed. */
  async add (room: string): Promise<boolean> {
    return this.#store.create(checkRoom(room))
  }

  /** Tells the room's members it is gone, removes them (running `leave`), and destroys it; false when there was no such room. */
  async destroy (room: string): Promise<boolean> {
    if (!await this.#store.exists(checkRoom(room))) return false
    await this.#store.publish({ context: 'user', room, from: 0, message: ERRORS.roomDeleted, sentAt: Date.now() })
    return this.#store.destroy(room)
  }

  exists (room: string): Promise<boolean> {
    return this.#store.exists(checkRoom(room))
  }

  list (): Promise<string[]> {
    return this.#store.list()
  }

  /** The room's members on every node. */
  async view (room: string): Promise<RoomMembers> {
    const members = await this.#store.members(checkRoom(room))
    if (members === null) throw new RoomError(ERRORS.roomNotFound)
    const byId: RoomMembers['members'] = {}
    for (const member of members) byId[member.id] = memberView(member)
    return { room, members: byId, membersCount: members.length }
  }

  /** Adds connection `connectionId`, on any node, to `room`, as if it had sent `roomAdd`. */
  addMember (connectionId: string, room: string): Promise<void> {
    return this.#changeMembership(connectionId, checkRoom(room), 'add')
  }

  /** Removes connection `connectionId`, on any node, from `room`, as if it had sent `roomLeave`. */
  removeMember (connectionId: string, room: string): Promise<void> {
    return this.#changeMembership(connectionId, checkRoom(room), 'remove')
  }

  /**
   * Sends `message` to every member of `room` (but `from`, unless `echoSay`), through the `onSayReceive`
   * middleware as ActionHero v11 did: it sees the sender as `{ id: from, broadcast: true }`, and may
   * rewrite, drop or refuse (reject) the broadcast. A server broadcast is `from: 0`.
   */
  async broadcast (room: string, message: unknown, from: string | 0 = 0): Promise<void> {
    // A room with members here exists; asking Redis would only make a broadcast fail in an outage.
    if (!this.#local.has(checkRoom(room)) && !await this.#store.exists(room)) throw new RoomError(ERRORS.roomNotFound)
    await this.#publish({ id: from, broadcast: true }, { context: 'user', room, from, message, sentAt: Date.now() })
  }

  use (middleware: ChatMiddleware): this {
    this.#middleware.use(middleware)
    return this
  }

  // ----- what a connection asks for (the room events) -------------------------------------------

  join (connection: Connection, room: string): Promise<void> {
    return this.#membership.run(connection.id, async () => {
      // A closed connection joins nothing: its departure has been queued (or done) already.
      if (!connection.open) throw new RoomError(ERRORS.connectionNotFound(connection.id))
      if (connection.rooms.includes(room)) throw new RoomError(ERRORS.alreadyInRoom)
      if (!await this.#store.exists(room)) throw new RoomError(ERRORS.roomNotFound)
      await this.#middleware.join(connection, room)
      const result = await this.#store.join(room, await this.#member(connection, room))
      if (result === 'missing') throw new RoomError(ERRORS.roomNotFound)
      if (result === 'already') throw new RoomError(ERRORS.alreadyInRoom)
      connection.rooms.push(room)
      let members = this.#local.get(room)
      if (members === undefined) this.#local.set(room, members = new Set())
      members.add(connection)
    })
  }

  leave (connection: Connection, room: string): Promise<void> {
    return this.#membership.run(connection.id, async () => {
      if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notInRoom)
      await this.#leave(connection, room, false)
    })
  }

  /** A membership change asked by another node for a connection of this one; rejects with the reason it cannot. */
  async changeLocalMembership (connectionId: string, room: string, change: MembershipChange): Promise<void> {
    const connection = this.#connections.get(connectionId)
    if (connection === undefined) throw new RoomError(ERRORS.connectionNotFound(connectionId))
    return await (change === 'add' ? this.join(connection, room) : this.leave(connection, room))
  }

  /**
   * Leaves every room of a connection that has closed, once the membership changes it had in flight
   * are done: its `leave` middleware runs for each room, and cannot keep it in.
   */
  leaveAll (connection: Connection): Promise<void> {
    return this.#membership.run(connection.id, () =>
      Promise.all([...connection.rooms].map((room) => this.#leave(connection, room, true))))
  }

  /** True while membership changes of `connection` are queued or running. */
  changing (connection: Connection): boolean {
    return this.#membership.busy(connection.id)
  }

  /** The room's members, for a connection that is one of them. */
  async viewFor (connection: Connection, room: string): Promise<RoomMembers> {
    await this.#membership.idle(connection.id)
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notMemberOf(room))
    return this.view(room)
  }

  async say (connection: Connection, room: string, message: unknown): Promise<void> {
    // After the membership changes asked before it: `roomAdd` then `say`, sent without waiting, says in the room.
    if (this.#membership.busy(connection.id)) await this.#membership.idle(connection.id)
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notInRoom)
    checkEncodable(message)
    return this.#publish(connection, { context: 'user', room, from: connection.id, message, sentAt: Date.now() })
  }

  /** Publishes a chat message once the `onSayReceive` middleware accepted it, in order per room. */
  #publish (sender: Connection | BroadcastSender, payload: ChatMessage): Promise<void> {
    const { room } = payload
    if (!this.#middleware.hasOnSayReceive && !this.#sending.busy(room)) return this.#store.publish(payload)
    return this.#sending.run(room, async () => {
      const accepted = await this.#middleware.onSayReceive(sender, room, payload)
      if (accepted !== null) await this.#store.publish(accepted)
    })
  }

  // ----- delivery ---------------------------------------------------------------------------------

  /**
   * Fan-out to this node's members: encoded once (to a Buffer that every socket sends as it is),
   * unless `say` middleware changes it for a receiver.
   */
  #deliver (message: ChatMessage, encoded?: string): void {
    const members = this.#local.get(message.room)
    if (members === undefined) return
    const frame = Buffer.from(escapeLineTerminators(encoded ?? JSON.stringify(message)))
    const { from } = message
    if (!this.#middleware.hasSay && !this.#delivering.busy(message.room)) {
      for (const member of members) if (this.#echoSay || member.id !== from) member.write(frame, message)
      return
    }
    const receivers = [...members].filter((member) => this.#echoSay || member.id !== from)
    this.#delivering.run(message.room, () => Promise.all(receivers.map(async (receiver) => {
      try {
        const payload = await this.#middleware.say(receiver, message.room, { ...message })
        if (payload === null) return
        if (isUnchanged(payload, message)) receiver.write(frame, message)
        else receiver.write(escapeLineTerminators(JSON.stringify(payload)), payload)
      } catch (error) {
        this.#log.warn({ err: error, connection: receiver.id, room: message.room }, 'fastify-actionhero-ws: say middleware failed; that receiver is skipped')
      }
    }))).catch((error: unknown) => this.#log.error({ err: error }, 'fastify-actionhero-ws: delivery failed'))
  }

  /** A room was destroyed: its members here leave it (their `leave` middleware runs, and cannot refuse). */
  #destroyed (room: string): void {
    const members = this.#local.get(room)
    if (members === undefined) return
    for (const connection of members) {
      this.#forget(connection, room)
      this.#middleware.leave(connection, room).catch((error: unknown) =>
        this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: leave middleware failed for a destroyed room'))
    }
  }

  /** A member of a dead node was removed: the `leave` middleware hears of it here. */
  #departed (room: string, memberId: string): void {
    this.#middleware.leave({ id: memberId, departed: true }, room).catch((error: unknown) =>
      this.#log.warn({ err: error, connection: memberId, room }, 'fastify-actionhero-ws: leave middleware failed for a departed member'))
  }

  // ----- bookkeeping ------------------------------------------------------------------------------

  /** The membership a connection joins with: its details too when the `memberDetails` option is set. */
  async #member (connection: Connection, room: string): Promise<RoomMember> {
    const member: RoomMember = { id: connection.id, joinedAt: Date.now() }
    if (this.#memberDetails !== null) member.details = await makeMemberDetails(this.#memberDetails, connection, room, this.#log)
    return member
  }

  /** Leaves `room`; `force` (a connection that is gone) leaves even when `leave` middleware or the store throws. */
  async #leave (connection: Connection, room: string, force: boolean): Promise<void> {
    try {
      await this.#middleware.leave(connection, room)
    } catch (error) {
      if (!force) throw error
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: leave middleware failed for a departing connection')
    }
    try {
      await this.#store.leave(room, connection.id)
    } catch (error) {
      // The store writes its members back when it can; a departing connection must not stay here.
      if (!force) throw error
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: the room store could not record a departure yet')
    }
    this.#forget(connection, room)
  }

  #forget (connection: Connection, room: string): void {
    const index = connection.rooms.indexOf(room)
    if (index !== -1) connection.rooms.splice(index, 1)
    const members = this.#local.get(room)
    members?.delete(connection)
    if (members?.size === 0) this.#local.delete(room)
  }

  async #changeMembership (connectionId: string, room: string, change: MembershipChange): Promise<void> {
    if (this.#connections.has(connectionId) || this.#cluster === null) return this.changeLocalMembership(connectionId, room, change)
    return this.#cluster.changeMembership(connectionId, room, change)
  }
}

function checkRoom (room: unknown): string {
  if (!isRoomName(room)) throw new RoomError(ERRORS.roomRequired)
  return room
}

/**
 * Refuses a chat message JSON cannot hold (from a client, only one nested deeper than the encoder
 * can go), with the protocol's error rather than the engine's. Strings, the usual message, skip it.
 */
function checkEncodable (message: unknown): void {
  if (typeof message !== 'object' || message === null) return
  try {
    JSON.stringify(message)
  } catch {
    throw new RoomError(ERRORS.messageNotEncodable)
  }
}

/** True when `say` middleware handed back the payload with the same values, so the shared encoding fits. */
function isUnchanged (payload: ChatMessage, original: ChatMessage): boolean {
  return Object.keys(payload).length === 5 && payload.context === original.context && payload.room === original.room &&
    payload.from === original.from && payload.message === original.message && payload.sentAt === original.sentAt
}

/** Runs tasks one after another per key; a failed task does not stop the ones after it. */
class SerialQueues {
  readonly #tails = new Map<string, Promise<void>>()

  busy (key: string): boolean {
    return this.#tails.has(key)
  }

  /** Resolves once the tasks queued for `key` so far are done. */
  async idle (key: string): Promise<void> {
    await this.#tails.get(key)
  }

  run (key: string, task: () => Promise<unknown>): Promise<void> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(task).then(() => {})
    const tail = result.catch(() => {})
    this.#tails.set(key, tail)
    tail.then(() => { if (this.#tails.get(key) === tail) this.#tails.delete(key) })
    return result
  }
}
