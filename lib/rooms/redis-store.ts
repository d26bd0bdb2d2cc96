/**
 * Rooms shared by every node of a cluster, in Redis. Existence and membership live in Redis (so a
 * room view counts every node); a chat message goes to the other nodes over the room's channel, which
 * a node subscribes to only while it has members there. With history on, one script stamps, keeps and
 * publishes a message; this node delivers it from the script's answer, and every node delivers each
 * room in offset order (sequencer.ts), filling what its channel missed from the history. Every request
 * a connection waits for has a deadline (`requestTimeout`). The keys, channels and scripts are
 * RedisSchema's.
 */
import { randomUUID } from 'node:crypto'
import { ERRORS, type ChatMessage, type PresenceList, type PresenceMessage } from '../../types/protocol.js'
import { BusError, decodeChat, decodePresence } from '../cluster/bus.js'
import type { RedisLink } from '../cluster/directory.js'
import type { ReapedMember, RedisNode } from '../cluster/redis-node.js'
import {
  decodeMember, DESTROY, encodeMember, JOIN, LEAVE, membershipOf, parseMembership, RESTORE_MEMBERSHIPS, RESTORE_ROOMS, UPDATE
} from '../cluster/redis-schema.js'
import { RoomError } from '../errors.js'
import type { Appended, HistoryOptions } from './history.js'
import { hasKey, presenceList, presenceMessage } from './presence.js'
import { RedisHistory, roomStream } from './redis-history.js'
import { Sequencer } from './sequencer.js'
import type { JoinResult, LocalMembers, MemberCounts, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

/** How many memberships one write-back script carries, so that no single call blocks Redis for long. */
const RESTORE_BATCH = 200

/** Before `start`: no members. */
const NO_MEMBERS: LocalMembers = { rooms: () => [], members: () => [], has: () => false }

/** A room's members on every node, as Redis holds them; null when there is no such room. */
export async function readMembers ({ command, schema }: RedisLink, room: string): Promise<RoomMember[] | null> {
  const [exists, members] = await Promise.all([command.sismember(schema.rooms, room), command.hgetall(schema.room(room))])
  if (exists !== 1) return null
  return Object.entries(members).map(([id, value]) => decodeMember(id, value))
}

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
  /** With history on: each room's messages delivered here once, in offset order. */
  readonly #sequencer: Sequencer<Appended<ChatMessage>>

  /** `largest`: the largest message the history keeps, in bytes (the frame limit). */
  constructor (node: RedisNode, history: HistoryOptions | false = false, largest = Infinity) {
    this.#node = node
    const kept = history === false ? null : new RedisHistory(node, history, roomStream(node, largest))
    this.history = kept
    this.#sequencer = new Sequencer<Appended<ChatMessage>>({
      positionOf: ({ position }) => position,
      deliver: (_room, { item, json }) => this.#events?.deliver(item, json),
      read: (room, after) => (kept as RedisHistory).after(room, after),
      lost: (room, position) => this.#events?.lost?.(room, position),
      timeout: node.requestTimeout,
      failed: (error, room) => node.warn('history', error, 'could not read a room\'s history to fill a gap; trying again', { room })
    })
    node.onResync(() => this.#resync())
    node.onReap((removed) => this.#reaped(removed))
    if (kept === null) return
    // What the channels missed while the subscriber was away is read from the history.
    node.onResubscribed(() => { for (const room of this.#sequencer.keys()) this.#sequencer.catchUp(room) })
    node.onResync(() => kept.raise(this.#sequencer.positions()))
  }

  async start (events: RoomStoreEvents, members: LocalMembers): Promise<void> {
    this.#events = events
    this.#members = members
  }

  async close (): Promise<void> {
    this.#events = null
    this.#sequencer.clear()
  }

  async create (room: string): Promise<boolean> {
    this.#created.add(room)
    return await this.#node.deadline(this.#node.command.sadd(this.#node.schema.rooms, room), false) === 1
  }

  /**
   * Destroys the room in steps (the room and its members, its history, the other nodes told); a
   * destroy that failed after the first is finished by the next one, which then answers true.
   */
  async destroy (room: string): Promise<boolean> {
    const { schema } = this.#node
    this.#created.delete(room)
    const destroyed = await this.#node.deadline(this.#node.runScript(DESTROY, [schema.rooms, schema.room(room), schema.destroying, schema.presence(room)], [room]), false)
    if (destroyed === 0) return false
    this.#destroyedHere(room)
    if (this.history !== null) await this.#node.deadline(this.history.forget(room), false)
    await this.#node.deadline(this.#node.publish(schema.roomChannel(room), 'destroyed', ''), false)
    await this.#node.deadline(this.#node.command.srem(schema.destroying, room), false)
    return true
  }

  async exists (room: string): Promise<boolean> {
    return await this.#node.deadline(this.#node.command.sismember(this.#node.schema.rooms, room), false) === 1
  }

  list (): Promise<string[]> {
    return this.#node.deadline(this.#node.command.smembers(this.#node.schema.rooms), false)
  }

  /** Rejects when Redis failed, or when this node could not listen to the room: its owner then removes the member. */
  async join (room: string, member: RoomMember): Promise<JoinResult> {
    const { schema, id: node } = this.#node
    const [result, version] = await this.#node.deadline(this.#node.runScript(JOIN, [schema.rooms, schema.room(room), schema.membershipsOf(node), schema.presence(room)],
      [room, member.id, encodeMember(member, node), membershipOf(member.id, room), member.key ?? '']), true) as [JoinResult, string?]
    if (result === 'missing') return result
    if (version !== undefined && hasKey(member)) this.#tell(presenceMessage(room, 'join', member, Number(version)))
    // 'already' is 'joined' too: connection ids are this node's own, and its owner adds a member once,
    // so one already there was written by this node, by a write-back or by a join whose answer was lost.
    // Joined only once this node hears the room: no message sent after the reply can be missed.
    await this.#node.deadline(this.#listen(room), false)
    return 'joined'
  }

  async leave (room: string, memberId: string): Promise<boolean> {
    // The owner lists the member no longer: if Redis is away, the write-back after the outage removes it there too.
    if (!this.#members.has(room)) this.#stopListening(room)
    return this.#departed(room, memberId, await this.#node.deadline(this.#leave(room, memberId), true))
  }

  async update (room: string, member: RoomMember): Promise<boolean> {
    const { schema, id: node } = this.#node
    const [updated, version] = await this.#node.deadline(this.#node.runScript(UPDATE, [schema.room(room), schema.presence(room)],
      [member.id, encodeMember(member, node), member.key ?? '']), true) as [number, string?]
    if (version !== undefined && hasKey(member)) this.#tell(presenceMessage(room, 'update', member, Number(version)))
    return updated === 1
  }

  async presence (room: string): Promise<PresenceList | null> {
    const { command, schema } = this.#node
    // One transaction, one slot: the list is exactly the one of its version.
    const read = command.multi().sismember(schema.rooms, room).hgetall(schema.room(room)).hget(schema.presence(room), 'version').exec()
    const [[, exists], [, members], [, version]] = await this.#node.deadline(read, false) as [[unknown, number], [unknown, Record<string, string>], [unknown, string | null]]
    if (exists !== 1) return null
    return presenceList(Object.entries(members).map(([id, value]) => decodeMember(id, value)), Number(version ?? 0))
  }

  async counts (room: string): Promise<MemberCounts | null> {
    const { command, schema } = this.#node
    const read = command.multi().sismember(schema.rooms, room).hlen(schema.room(room)).hlen(schema.presence(room)).hexists(schema.presence(room), 'version').exec()
    const [[, exists], [, members], [, fields], [, versioned]] = await this.#node.deadline(read, false) as unknown as [[unknown, number], [unknown, number], [unknown, number], [unknown, number]]
    if (exists !== 1) return null
    return { members, keys: fields - versioned }
  }

  members (room: string): Promise<RoomMember[] | null> {
    return this.#node.deadline(readMembers(this.#node, room), false)
  }

  /**
   * With history on, resolves once the message is stored (and published): this node delivers it from
   * the script's answer; rejects, the message reaching nobody, when Redis could not take it. Without
   * history, this node's members get it at once, then the others through the channel; a publish that
   * fails rejects with `deliveredHereOnly`.
   */
  async publish (message: ChatMessage): Promise<void> {
    const { room } = message
    if (this.history !== null) {
      const publishing = this.history.publish(room, message, this.#sequencer.position(room))
      let stamped: Appended<ChatMessage>
      try {
        stamped = await this.#node.deadline(publishing, false)
      } catch (error) {
        // Past the deadline Redis may still run it: its answer, if it comes, is delivered in order then.
        publishing.then((late) => this.#sequencer.receive(room, late, false), () => {})
        throw error
      }
      this.#sequencer.receive(room, stamped, false)
      return
    }
    const json = JSON.stringify(message)
    this.#events?.deliver(message, json)
    try {
      await this.#node.deadline(this.#node.publish(this.#node.schema.roomChannel(room), 'chat', json), false)
    } catch (error) {
      throw new RoomError(ERRORS.deliveredHereOnly, { cause: error })
    }
  }

  /** What another node published to a room; a malformed message throws a BusError, which the node logs and drops. */
  #receive (room: string, kind: string, payload: string): void {
    if (kind === 'chat') {
      const message = decodeChat(payload, room)
      const { offset, epoch } = message
      // Without a position (history off, or a node of an older release that could not store it): as it comes.
      if (this.history === null || typeof offset !== 'number' || typeof epoch !== 'string') this.#events?.deliver(message, payload)
      else this.#sequencer.receive(room, { item: message, json: payload, position: { epoch, offset } }, true)
    } else if (kind === 'presence') {
      this.#events?.presence(decodePresence(payload, room), payload)
    } else if (kind === 'destroyed') {
      this.#destroyedHere(room)
    } else {
      throw new BusError(`unknown kind ${JSON.stringify(kind)} on a room channel`)
    }
  }

  /**
   * Subscribes to the room's channel unless this node does already; resolves once it does, and, with
   * history on, once it knows where the room is: what comes on the channel from there is new.
   */
  #listen (room: string): Promise<void> {
    let subscribed = this.#subscriptions.get(room)
    if (subscribed === undefined) {
      const history = this.history
      if (history !== null) this.#sequencer.follow(room)
      subscribed = this.#node.subscribe(this.#node.schema.roomChannel(room), (kind, payload) => this.#receive(room, kind, payload))
        .then(async () => {
          if (history !== null) this.#sequencer.place(room, await history.position(room))
        })
      // Awaited by the joins that wait for it; observed here too, for a room left before it settles.
      subscribed.catch(() => {})
      this.#subscriptions.set(room, subscribed)
    }
    return subscribed
  }

  /** LEAVE: answers [1, encoded member, presence version when it was its key's last] or [0]. */
  #leave (room: string, memberId: string): Promise<[number, string?, string?]> {
    const { schema, id: node } = this.#node
    return this.#node.runScript(LEAVE, [schema.room(room), schema.membershipsOf(node), schema.presence(room)], [memberId, membershipOf(memberId, room)]) as Promise<[number, string?, string?]>
  }

  /** A member removed (by a leave, or a write-back that found it gone): its key's last tells the room. */
  #departed (room: string, memberId: string, [removed, value, version]: [number, string?, string?]): boolean {
    if (value !== undefined && version !== undefined) {
      const member = decodeMember(memberId, value)
      if (hasKey(member)) this.#tell(presenceMessage(room, 'leave', member, Number(version)))
    }
    return removed === 1
  }

  /** The members of a dead node this node removed: their `leave` middleware runs here, and the last of each presence key tells the room. */
  #reaped (removed: readonly ReapedMember[]): void {
    for (const { room, id, value, lastOfKey } of removed) {
      this.#events?.departed(room, id)
      const member = decodeMember(id, value)
      if (lastOfKey !== null && hasKey(member)) this.#tell(presenceMessage(room, 'leave', member, lastOfKey))
    }
  }

  /**
   * A change of who is here, decided by this node: its members hear it now, the other nodes' on the
   * room's channel (one publish per change, whatever the room's size). A publish that fails is logged:
   * the other nodes' members miss that change until they join again.
   */
  #tell (message: PresenceMessage): void {
    // Encoded once, for this node's members and for the others'.
    const json = JSON.stringify(message)
    this.#events?.presence(message, json)
    this.#node.publish(this.#node.schema.roomChannel(message.room), 'presence', json)
      .catch((error: unknown) => this.#node.warn('presence', error, 'could not tell the other nodes of a presence change', { room: message.room }))
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
    this.#sequencer.unfollow(room)
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
    const lostData = dataId !== this.#dataId
    this.#dataId = dataId as string
    for (const room of destroyed) this.#destroyedHere(room)
    const recorded = await command.smembers(schema.membershipsOf(node))

    const writes: Array<Promise<unknown>> = []
    // Memberships that ended while Redis could not hear of it: removed now, and the last of a presence key tells the room.
    for (const membership of recorded) {
      const parsed = parseMembership(membership)
      if (parsed !== null && this.#members.has(parsed.room, parsed.id)) continue
      if (parsed === null) writes.push(command.srem(schema.membershipsOf(node), membership))
      else writes.push(this.#leave(parsed.room, parsed.id).then((answer) => this.#departed(parsed.room, parsed.id, answer)))
    }
    // After Redis lost its data nobody heard these members leave: their keys come back silently.
    // Otherwise (this node was reaped, its members' leaves told) each key back tells the room it is.
    const tellJoins = lostData ? null : new Map<string, RoomMember>()
    let keys: string[] = [schema.rooms, schema.membershipsOf(node)]
    let args: string[] = []
    const flush = (): void => {
      writes.push(this.#node.runScript(RESTORE_MEMBERSHIPS, keys, args).then((back) => this.#backAgain(back as string[], tellJoins)))
      keys = [schema.rooms, schema.membershipsOf(node)]
      args = []
    }
    for (const room of this.#members.rooms()) {
      for (const member of this.#members.members(room)) {
        keys.push(schema.room(room), schema.presence(room))
        args.push(room, member.id, encodeMember(member, node), membershipOf(member.id, room), member.key ?? '')
        tellJoins?.set(membershipOf(member.id, room), member)
        if (keys.length - 2 === 2 * RESTORE_BATCH) flush()
      }
    }
    if (args.length > 0) flush()
    await Promise.all(writes)
  }

  /** The members a write-back made their presence key's first again: told as joins when `members` is given. */
  #backAgain (back: string[], members: ReadonlyMap<string, RoomMember> | null): void {
    if (members === null) return
    for (let i = 0; i + 2 < back.length; i += 3) {
      const [room, id, version] = back.slice(i, i + 3) as [string, string, string]
      const member = members.get(membershipOf(id, room))
      if (member !== undefined && hasKey(member)) this.#tell(presenceMessage(room, 'join', member, Number(version)))
    }
  }
}
