/**
 * Chat rooms (`fastify.actionheroWs.rooms`): membership of this node's connections, `say` and
 * `broadcast` through the chat middleware, and fan-out to the local members of a room. Room state
 * itself lives in a `RoomStore`, in memory or shared by a cluster.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type ChatMessage, type HistoryPosition, type RoomAddFields, type RoomMembers } from '../../types/protocol.js'
import type { Cluster, MembershipChange } from '../cluster/cluster.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import { encodeJson, escapeLineTerminators } from '../json.js'
import { isRoomName } from '../options.js'
import type { RoomHistory } from './history.js'
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
  /**
   * Connections catching up on a room they just joined (history replay): the live messages of that
   * room wait here until the replay is written, so that they follow it without a gap or a repeat.
   */
  readonly #catchingUp = new Map<Connection, Map<string, MemberFrame[]>>()

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

  /**
   * Joins `room`. With history on, answers the room's position, and with `since` (the position of
   * the last message the client has) first writes every message after it, when the history still
   * holds them all (`recovered: true`).
   */
  join (connection: Connection, room: string, since?: HistoryPosition): Promise<RoomAddFields> {
    return this.#membership.run(connection.id, async () => {
      // A closed connection joins nothing: its departure has been queued (or done) already.
      if (!connection.open) throw new RoomError(ERRORS.connectionNotFound(connection.id))
      if (connection.rooms.includes(room)) throw new RoomError(ERRORS.alreadyInRoom)
      if (!await this.#store.exists(room)) throw new RoomError(ERRORS.roomNotFound)
      await this.#middleware.join(connection, room)
      const result = await this.#store.join(room, await this.#member(connection, room))
      if (result === 'missing') throw new RoomError(ERRORS.roomNotFound)
      if (result === 'already') throw new RoomError(ERRORS.alreadyInRoom)
      const history = this.#store.history ?? null
      // Held from the moment it is a member here, so that no live message slips past the replay.
      const held = history === null ? null : this.#hold(connection, room)
      connection.rooms.push(room)
      let members = this.#local.get(room)
      if (members === undefined) this.#local.set(room, members = new Set())
      members.add(connection)
      if (history === null || held === null) return {}
      return this.#catchUp(connection, room, history, held, since)
    })
  }

  /** The last `limit` messages of a room's history, for a connection that is a member ([] without history). */
  async historyFor (connection: Connection, room: string, limit: number): Promise<ChatMessage[]> {
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notMemberOf(room))
    return await this.#store.history?.recent(room, limit) ?? []
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
    if (change === 'add') await this.join(connection, room)
    else await this.leave(connection, room)
  }

  /**
   * Leaves every room of a connection that has closed, once the membership changes it had in flight
   * are done: its `leave` middleware runs for each room, and cannot keep it in.
   */
  async leaveAll (connection: Connection): Promise<void> {
    await this.#membership.run(connection.id, () =>
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
      for (const member of members) if (this.#echoSay || member.id !== from) this.#write(member, frame, message)
      return
    }
    const receivers = [...members].filter((member) => this.#echoSay || member.id !== from)
    this.#delivering.run(message.room, () => Promise.all(receivers.map(async (receiver) => {
      const delivery = await this.#forReceiver(receiver, message, frame)
      if (delivery !== null) this.#write(receiver, delivery.data, delivery.message)
    }))).catch((error: unknown) => this.#log.error({ err: error }, 'fastify-actionhero-ws: delivery failed'))
  }

  /**
   * What `receiver` gets of a room message (`frame`: the message encoded), through the `say`
   * middleware when there is one: null when it is not for the receiver, or when the middleware failed
   * or handed back what cannot be encoded (logged). Live and replayed messages alike.
   */
  async #forReceiver (receiver: Connection, message: ChatMessage, frame: string | Buffer): Promise<MemberFrame | null> {
    if (!this.#middleware.hasSay) return { data: frame, message }
    try {
      const payload = await this.#middleware.say(receiver, message.room, { ...message })
      if (payload === null) return null
      return isUnchanged(payload, message) ? { data: frame, message } : { data: encodeJson(payload) as string, message: payload }
    } catch (error) {
      this.#log.warn({ err: error, connection: receiver.id, room: message.room }, 'fastify-actionhero-ws: say middleware failed; that receiver is skipped')
      return null
    }
  }

  /** Writes a room message to a member, or holds it while that member catches up on the room. */
  #write (member: Connection, data: string | Buffer, message: ChatMessage): void {
    const held = this.#catchingUp.size === 0 ? undefined : this.#catchingUp.get(member)?.get(message.room)
    if (held === undefined) member.write(data, message)
    else held.push({ data, message })
  }

  // ----- history ----------------------------------------------------------------------------------

  /** Starts holding the live messages of `room` for `connection`; the returned list fills as they come. */
  #hold (connection: Connection, room: string): MemberFrame[] {
    const held: MemberFrame[] = []
    let rooms = this.#catchingUp.get(connection)
    if (rooms === undefined) this.#catchingUp.set(connection, rooms = new Map())
    rooms.set(room, held)
    return held
  }

  /** Writes what the connection holds for `room` (but what the replay already gave it) and stops holding. */
  #release (connection: Connection, room: string, held: MemberFrame[], replayed: HistoryPosition | null): void {
    const rooms = this.#catchingUp.get(connection)
    rooms?.delete(room)
    if (rooms?.size === 0) this.#catchingUp.delete(connection)
    for (const { data, message } of held) {
      if (replayed !== null && message.epoch === replayed.epoch && (message.offset ?? 0) <= replayed.offset) continue
      connection.write(data, message)
    }
  }

  /**
   * The history part of a join: the replay after `since` when the history holds all of it (each
   * message through the `say` middleware, as live ones), then the messages held meanwhile, then the
   * room's position for the reply.
   */
  async #catchUp (connection: Connection, room: string, history: RoomHistory, held: MemberFrame[], since?: HistoryPosition): Promise<RoomAddFields> {
    let replayed: HistoryPosition | null = null
    try {
      const missed = since === undefined ? null : await history.since(room, since)
      if (since !== undefined && missed !== null) {
        replayed = { ...since }
        for (const message of missed) {
          replayed.offset = message.offset ?? replayed.offset
          const delivery = await this.#forReceiver(connection, message, encodeJson(message) as string)
          if (delivery !== null) connection.write(delivery.data, delivery.message)
        }
      }
      const { epoch, offset } = await history.position(room)
      return since === undefined ? { epoch, offset } : { epoch, offset, recovered: replayed !== null }
    } catch (error) {
      // The member is in the room whatever happened to its history: it hears live messages from here.
      this.#log.warn({ err: error, connection: connection.id, room }, 'fastify-actionhero-ws: the room history could not be read')
      return since === undefined ? {} : { recovered: false }
    } finally {
      this.#release(connection, room, held, replayed)
    }
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
  return Object.keys(payload).length === Object.keys(original).length && payload.context === original.context && payload.room === original.room &&
    payload.from === original.from && payload.message === original.message && payload.sentAt === original.sentAt &&
    payload.offset === original.offset && payload.epoch === original.epoch
}

/** A room message as one member gets it: the frame to write and the message it encodes. */
interface MemberFrame {
  data: string | Buffer
  message: ChatMessage
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

  run<Result = void> (key: string, task: () => Promise<Result>): Promise<Result> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(task)
    const tail = result.then(() => {}, () => {})
    this.#tails.set(key, tail)
    tail.then(() => { if (this.#tails.get(key) === tail) this.#tails.delete(key) })
    return result
  }
}
