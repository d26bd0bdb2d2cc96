/**
 * Rooms shared by every node of a cluster, in Redis. Existence and membership live in Redis (so a
 * room view counts every node); a chat message goes to this node's members at once and to the
 * other nodes over the room's channel, which a node subscribes to only while it has members there.
 * The keys, channels and scripts are RedisSchema's.
 */
import { randomUUID } from 'node:crypto'
import type { ChatMessage } from '../../types/protocol.js'
import { BusError, decodeChat } from '../cluster/bus.js'
import type { RedisNode } from '../cluster/redis-node.js'
import {
  decodeMember, DESTROY, encodeMember, JOIN, LEAVE, membershipOf, parseMembership, RESTORE_MEMBERSHIPS, RESTORE_ROOMS
} from '../cluster/redis-schema.js'
import type { HistoryOptions } from './history.js'
import { RedisHistory, roomStream } from './redis-history.js'
import type { JoinResult, LocalMembers, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

/** How many memberships one write-back script carries, so that no single call blocks Redis for long. */
const RESTORE_BATCH = 200

/** Before `start`: no members. */
const NO_MEMBERS: LocalMembers = { rooms: () => [], members: () => [], has: () => false }

export class RedisRoomStore implements RoomStore {
  readonly #node: RedisNode
  #events: RoomStoreEvents | null = null
  /** This node's members, as their owner keeps them: the truth it writes back after an outage. */
  #members: LocalMembers = NO_MEMBERS
  /** The subscription to each room's channel, made when its first local member joins. */
  readonly #subscriptions = new Map<string, Promise<void>>()
  /** Rooms this node created: written back if Redis lost its data, unless destroyed meanwhile. */
  readonly #created = new Set<string>()
  /** The id of the Redis data this node last wrote to; a different one means Redis lost it. */
  #dataId: string = randomUUID()
  readonly history: RedisHistory | null

  constructor (node: RedisNode, history: HistoryOptions | false = false) {
    this.#node = node
    this.history = history === false ? null : new RedisHistory(node, history, roomStream(node, Infinity))
    node.onResync(() => this.#resync())
    node.onReap((removed) => {
      for (const [room, id] of removed) this.#events?.departed(room, id)
    })
  }

  async start (events: RoomStoreEvents, members: LocalMembers): Promise<void> {
    this.#events = events
    this.#members = members
  }

  async close (): Promise<void> {
    this.#events = null
  }

  async create (room: string): Promise<boolean> {
    this.#created.add(room)
    return await this.#node.command.sadd(this.#node.schema.rooms, room) === 1
  }

  async destroy (room: string): Promise<boolean> {
    const { schema } = this.#node
    this.#created.delete(room)
    const destroyed = await this.#node.runScript(DESTROY, [schema.rooms, schema.room(room)], [room]) === 1
    if (!destroyed) return false
    this.#destroyedHere(room)
    await this.history?.forget(room)
    await this.#node.publish(schema.roomChannel(room), 'destroyed', '')
    return true
  }

  async exists (room: string): Promise<boolean> {
    return await this.#node.command.sismember(this.#node.schema.rooms, room) === 1
  }

  list (): Promise<string[]> {
    return this.#node.command.smembers(this.#node.schema.rooms)
  }

  /** Rejects when Redis failed, or when this node could not listen to the room: its owner then removes the member. */
  async join (room: string, member: RoomMember): Promise<JoinResult> {
    const { schema, id: node } = this.#node
    let result: JoinResult
    try {
      result = await this.#node.runScript(JOIN, [schema.rooms, schema.room(room), schema.membershipsOf(node)],
        [room, member.id, encodeMember(member, node), membershipOf(member.id, room)]) as JoinResult
    } catch (error) {
      this.#node.writeFailed(error)
      throw error
    }
    if (result === 'missing') return result
    // 'already' is 'joined' too: connection ids are this node's own, and its owner adds a member once,
    // so one already there was written by this node, by a write-back or by a join whose answer was lost.
    // Joined only once this node hears the room: no message sent after the reply can be missed.
    await this.#listen(room)
    return 'joined'
  }

  async leave (room: string, memberId: string): Promise<boolean> {
    const { schema, id: node } = this.#node
    // The owner lists the member no longer: if Redis is away, the write-back after the outage removes it there too.
    if (!this.#members.has(room)) this.#stopListening(room)
    try {
      return await this.#node.runScript(LEAVE, [schema.room(room), schema.membershipsOf(node)], [memberId, membershipOf(memberId, room)]) === 1
    } catch (error) {
      this.#node.writeFailed(error)
      throw error
    }
  }

  async members (room: string): Promise<RoomMember[] | null> {
    const [exists, members] = await Promise.all([this.exists(room), this.#node.command.hgetall(this.#node.schema.room(room))])
    if (!exists) return null
    return Object.entries(members).map(([id, value]) => decodeMember(id, value))
  }

  async publish (message: ChatMessage): Promise<void> {
    if (this.history !== null) {
      // Stamped and published by Redis in one step; every node, this one too, delivers it from the channel.
      try {
        await this.history.publish(message.room, message, null)
        return
      } catch (error) {
        this.#node.warn('publish', error, 'a message reached this node\'s members only, without an offset', { room: message.room })
        this.#events?.deliver(message)
        return
      }
    }
    const json = JSON.stringify(message)
    this.#events?.deliver(message, json)
    try {
      await this.#node.publish(this.#node.schema.roomChannel(message.room), 'chat', json)
    } catch (error) {
      this.#node.warn('publish', error, 'a message reached this node\'s members only', { room: message.room })
    }
  }

  /** What another node published to a room; a malformed message throws a BusError, which the node logs and drops. */
  #receive (room: string, kind: string, payload: string): void {
    if (kind === 'chat') {
      this.#events?.deliver(decodeChat(payload, room), payload)
    } else if (kind === 'destroyed') {
      this.#destroyedHere(room)
    } else {
      throw new BusError(`unknown kind ${JSON.stringify(kind)} on a room channel`)
    }
  }

  /** Subscribes to the room's channel unless this node does already; resolves once it does. */
  #listen (room: string): Promise<void> {
    let subscribed = this.#subscriptions.get(room)
    if (subscribed === undefined) {
      subscribed = this.#node.subscribe(this.#node.schema.roomChannel(room), (kind, payload) => this.#receive(room, kind, payload))
      // Awaited by the joins that wait for it; observed here too, for a room left before it settles.
      subscribed.catch(() => {})
      this.#subscriptions.set(room, subscribed)
    }
    return subscribed
  }

  #destroyedHere (room: string): void {
    this.#created.delete(room)
    // Read before the owner hears of it: the members leave the room then.
    const memberships = [...this.#members.members(room)].map(({ id }) => membershipOf(id, room))
    this.#events?.destroyed(room)
    // Their memberships go from this node's set, which the destroying node could not reach.
    const { schema, id: node } = this.#node
    if (memberships.length > 0) {
      this.#node.command.srem(schema.membershipsOf(node), ...memberships).catch((error: unknown) => this.#node.writeFailed(error))
    }
    this.#stopListening(room)
  }

  #stopListening (room: string): void {
    if (!this.#subscriptions.delete(room)) return
    this.#node.unsubscribe(this.#node.schema.roomChannel(room))
  }

  /**
   * Writes this node's rooms and memberships back to Redis, and removes what it recorded that is no
   * longer true. Rooms destroyed while this node was away stay destroyed (their members here leave);
   * rooms come back only when Redis lost its data. After the reads, the local state is read and every
   * write sent at once: a join or leave before that is in the snapshot, one after reaches Redis after it.
   */
  async #resync (): Promise<void> {
    const { command, schema, id: node } = this.#node
    const known = [...new Set([...this.#created, ...this.#members.rooms()])]
    const [dataId, ...destroyed] = await this.#node.runScript(RESTORE_ROOMS, [schema.dataId, schema.rooms], [this.#dataId, randomUUID(), ...known]) as string[]
    this.#dataId = dataId as string
    for (const room of destroyed) this.#destroyedHere(room)
    const recorded = await command.smembers(schema.membershipsOf(node))

    const writes: Array<Promise<unknown>> = []
    const stale = command.multi()
    for (const membership of recorded) {
      const parsed = parseMembership(membership)
      if (parsed !== null && this.#members.has(parsed.room, parsed.id)) continue
      if (parsed !== null) stale.hdel(schema.room(parsed.room), parsed.id)
      stale.srem(schema.membershipsOf(node), membership)
    }
    writes.push(stale.exec())
    let keys: string[] = [schema.rooms, schema.membershipsOf(node)]
    let args: string[] = []
    const flush = (): void => {
      writes.push(this.#node.runScript(RESTORE_MEMBERSHIPS, keys, args))
      keys = [schema.rooms, schema.membershipsOf(node)]
      args = []
    }
    for (const room of this.#members.rooms()) {
      for (const member of this.#members.members(room)) {
        keys.push(schema.room(room))
        args.push(room, member.id, encodeMember(member, node), membershipOf(member.id, room))
        if (keys.length - 2 === RESTORE_BATCH) flush()
      }
    }
    if (args.length > 0) flush()
    await Promise.all(writes)
  }
}
