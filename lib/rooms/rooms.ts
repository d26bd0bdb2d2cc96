/**
 * Chat rooms (`fastify.actionheroWs.rooms`): the public API, and what a connection asks of rooms.
 * It wires the parts: membership (membership.ts) owns who is in which room here, fan-out (fanout.ts)
 * delivers a room's messages to them, catch-up (catch-up.ts) replays a room's history. Room state
 * itself lives in a `RoomStore`, in memory or shared by a cluster.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type ChatMessage, type HistoryPosition, type RoomAddFields, type RoomCounts, type RoomMembers } from '../../types/protocol.js'
import type { Cluster, MembershipChange } from '../cluster/cluster.js'
import type { Connection } from '../connection.js'
import { RoomError } from '../errors.js'
import { NO_METRICS, type Metrics } from '../observability/metrics.js'
import { isRoomName } from '../options.js'
import { CatchUp } from './catch-up.js'
import { FanOut } from './fanout.js'
import { roomMembersView, type MemberDetails } from './member-details.js'
import { Membership } from './membership.js'
import { ChatMiddlewareChain, type BroadcastSender, type ChatMiddleware } from './middleware.js'
import type { Presence } from './presence.js'
import { SayBudget, type SayLimit } from './say-budget.js'
import { SerialQueues } from './serial-queues.js'
import type { RoomStore } from './store.js'

export interface RoomsOptions {
  store: RoomStore
  /** This node's connections, by id. */
  connections: ReadonlyMap<string, Connection>
  /** The other nodes, when there are any: membership changes for their connections go through it. */
  cluster: Cluster | null
  echoSay: boolean
  /** How many messages the history keeps per room (the `history` option's `size`). */
  historySize: number
  /** What may wait to be sent to one client: replays are written as the client reads. */
  maxBufferedBytes: number
  /** What one connection may say per second; false: no limit. */
  sayLimit: SayLimit | false
  /** What a member shows in `roomView` besides `id` and `joinedAt`; null: nothing. */
  memberDetails?: MemberDetails | null
  /** Which rooms have presence (the `presence` option); null: none. */
  presence?: Presence | null
  log: FastifyBaseLogger
  /** What the rooms count (fan-out, replays, slow readers); default: nothing. */
  metrics?: Metrics
}

export class Rooms {
  readonly #store: RoomStore
  readonly #connections: ReadonlyMap<string, Connection>
  readonly #cluster: Cluster | null
  readonly #middleware = new ChatMiddlewareChain()
  readonly #membership: Membership
  readonly #fanOut: FanOut
  readonly #catchUp: CatchUp
  readonly #sayBudget: SayBudget | null
  readonly #presence: Presence | null
  /** Per room, what members send while `onSayReceive` middleware runs, in order. */
  readonly #sending = new SerialQueues()

  constructor ({ store, connections, cluster, echoSay, historySize, maxBufferedBytes, sayLimit, memberDetails = null, presence = null, log, metrics = NO_METRICS }: RoomsOptions) {
    this.#store = store
    this.#presence = presence
    this.#sayBudget = sayLimit === false ? null : new SayBudget(sayLimit)
    this.#connections = connections
    this.#cluster = cluster
    const middleware = this.#middleware
    this.#catchUp = new CatchUp({ history: store.history ?? null, historySize, maxBufferedBytes, middleware, log, metrics })
    this.#membership = new Membership({ store, middleware, catchUp: this.#catchUp, memberDetails, presence, log })
    this.#fanOut = new FanOut({ membership: this.#membership, middleware, catchUp: this.#catchUp, echoSay, log, metrics })
  }

  /** Starts the store and creates the rooms of the `rooms` option. */
  async start (rooms: readonly string[]): Promise<void> {
    await this.#store.start({
      deliver: (message, json) => this.#fanOut.deliver(message, json),
      destroyed: (room) => this.#membership.destroyed(room),
      departed: (room, memberId) => this.#membership.departed(room, memberId),
      lost: (room, position) => this.#fanOut.lost(room, position),
      presence: (message, encoded) => this.#fanOut.presence(message, encoded)
    }, this.#membership)
    for (const room of rooms) await this.#store.create(room)
  }

  async close (): Promise<void> {
    await this.#store.close()
  }

  /** How many rooms have a member on this node, and how many memberships they hold. */
  localCounts (): { rooms: number, members: number } {
    return this.#membership.counts()
  }

  // ----- the public API -------------------------------------------------------------------------

  /** Creates a room; false when it already existed. */
  async add (room: string): Promise<boolean> {
    return this.#store.create(checkRoom(room))
  }

  /**
   * Tells the room's members it is gone, removes them (running `leave`), and destroys it; false when
   * there was no such room. A destroy that failed halfway is finished by the next call (the store's).
   */
  async destroy (room: string): Promise<boolean> {
    if (await this.#store.exists(checkRoom(room))) {
      await this.#store.publish({ context: 'user', room, from: 0, message: ERRORS.roomDeleted, sentAt: Date.now() })
    }
    return this.#store.destroy(room)
  }

  exists (room: string): Promise<boolean> {
    return this.#store.exists(checkRoom(room))
  }

  list (): Promise<string[]> {
    return this.#store.list()
  }

  /** The room's members on every node (and in a presence room, how many presence keys they have). */
  async view (room: string): Promise<RoomMembers> {
    const members = await this.#store.members(checkRoom(room))
    if (members === null) throw new RoomError(ERRORS.roomNotFound)
    return roomMembersView(room, members, this.#presence?.inRoom(room) === true)
  }

  /** How many members the room has on every node (and presence keys, in a presence room), without listing them: cheap in a large room. */
  async count (room: string): Promise<RoomCounts> {
    const counts = await this.#store.counts(checkRoom(room))
    if (counts === null) throw new RoomError(ERRORS.roomNotFound)
    return this.#presence?.inRoom(room) === true ? { room, membersCount: counts.members, keysCount: counts.keys } : { room, membersCount: counts.members }
  }

  /**
   * Makes the details of a connection, on any node, again with the `memberDetails` option, in `room`
   * or in every room it is in, and tells each presence room among them (`update`).
   */
  async updateMember (connectionId: string, room?: string): Promise<void> {
    // '' (never a room's name) is every room of the connection, for another node.
    return this.#changeMembership(connectionId, room === undefined ? '' : checkRoom(room), 'update')
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
    if (!this.#membership.has(checkRoom(room)) && !await this.#store.exists(room)) throw new RoomError(ERRORS.roomNotFound)
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
  join (connection: Connection, room: string, since?: HistoryPosition, withList?: boolean): Promise<RoomAddFields> {
    return this.#membership.join(connection, room, since, withList)
  }

  /**
   * `roomHistory`, for a connection that is a member: the room's last messages (`limit`: at most that
   * many, capped), as its `say` middleware lets it have them, handed to `answer` once the connection has
   * read what came before ([] without history).
   */
  async historyFor (connection: Connection, room: string, limit: number | undefined, answer: (messages: ChatMessage[]) => void): Promise<void> {
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notMemberOf(room))
    await this.#catchUp.read(connection, room, limit, answer)
  }

  leave (connection: Connection, room: string): Promise<void> {
    return this.#membership.leave(connection, room)
  }

  /** A membership change asked by another node for a connection of this one; rejects with the reason it cannot. */
  async changeLocalMembership (connectionId: string, room: string, change: MembershipChange): Promise<void> {
    const connection = this.#connections.get(connectionId)
    if (connection === undefined) throw new RoomError(ERRORS.connectionNotFound(connectionId))
    if (change === 'add') await this.join(connection, room)
    else if (change === 'remove') await this.leave(connection, room)
    else await this.#membership.update(connection, room === '' ? undefined : room)
  }

  /**
   * Leaves every room of a connection that has closed, once the membership changes it had in flight
   * are done: its `leave` middleware runs for each room, and cannot keep it in.
   */
  leaveAll (connection: Connection): Promise<void> {
    return this.#membership.leaveAll(connection)
  }

  /** True while membership changes of `connection` are queued or running. */
  changing (connection: Connection): boolean {
    return this.#membership.changing(connection)
  }

  /** The room's members, for a connection that is one of them; `count`: only how many. */
  async viewFor (connection: Connection, room: string, count = false): Promise<RoomMembers | RoomCounts> {
    await this.#membership.settled(connection)
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notMemberOf(room))
    return count ? this.count(room) : this.view(room)
  }

  async say (connection: Connection, room: string, message: unknown): Promise<void> {
    // After the membership changes asked before it: `roomAdd` then `say`, sent without waiting, says in the room.
    if (this.#membership.changing(connection)) await this.#membership.settled(connection)
    if (!connection.rooms.includes(room)) throw new RoomError(ERRORS.notInRoom)
    const bytes = encodedSize(message)
    if (this.#sayBudget?.take(connection, bytes) === false) throw new RoomError(ERRORS.sayOverBudget)
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
 * The size of a chat message as JSON, in bytes (a string's, the usual message, without encoding it);
 * refuses one JSON cannot hold (from a client, only one nested deeper than the encoder can go) with
 * the protocol's error rather than the engine's.
 */
function encodedSize (message: unknown): number {
  if (typeof message === 'string') return Buffer.byteLength(message)
  try {
    return Buffer.byteLength(JSON.stringify(message) ?? '')
  } catch {
    throw new RoomError(ERRORS.messageNotEncodable)
  }
}
