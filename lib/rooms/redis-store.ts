/**
 * Rooms shared by every node of a cluster, in Redis. Existence and membership live in Redis (so a
 * room view counts every node); a chat message goes to this node's members at once and to the
 * other nodes over the room's channel, which a node subscribes to only while it has members there.
 *
 * Keys: `<prefix>rooms` (set of rooms), `<prefix>room:<room>` (hash: member id -> `joinedAt:node`),
 * `<prefix>node:<node>:memberships` (set of a node's memberships, for reaping a dead node).
 */
import type { ChatMessage } from '../../types/protocol.js'
import { membershipKey, type RedisNode } from '../cluster/redis-node.js'
import type { JoinResult, RoomMember, RoomStore, RoomStoreEvents } from './store.js'

const JOIN = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 'missing' end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 'already' end
redis.call('SADD', KEYS[3], ARGV[4])
return 'joined'`

const LEAVE = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return removed`

// Destroys a room and forgets its memberships in every node's set.
const DESTROY = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local members = redis.call('HGETALL', KEYS[2])
for i = 1, #members, 2 do
  local node = string.match(members[i + 1], '^%d+:(.*)$')
  redis.call('SREM', ARGV[2] .. 'node:' .. node .. ':memberships', string.len(members[i]) .. ':' .. members[i] .. ARGV[1])
end
redis.call('DEL', KEYS[2])
return 1`

export class RedisRoomStore implements RoomStore {
  readonly #node: RedisNode
  #events: RoomStoreEvents | null = null
  /** This node's members: room -> member id -> joinedAt. The truth it writes back after an outage. */
  readonly #local = new Map<string, Map<string, number>>()
  /** The subscription to each room's channel, made when its first local member joins. */
  readonly #subscriptions = new Map<string, Promise<void>>()
  /** Rooms this node created: written back after an outage too, in case Redis lost them. */
  readonly #created = new Set<string>()

  constructor (node: RedisNode) {
    this.#node = node
    node.onResync(() => this.#resync())
    node.onReap((removed) => {
      for (const [room, id] of removed) this.#events?.departed(room, id)
    })
  }

  async start (events: RoomStoreEvents): Promise<void> {
    this.#events = events
  }

  async close (): Promise<void> {
    this.#events = null
  }

  async create (room: string): Promise<boolean> {
    this.#created.add(room)
    return await this.#node.command.sadd(this.#node.key('rooms'), room) === 1
  }

  async destroy (room: string): Promise<boolean> {
    this.#created.delete(room)
    const destroyed = await this.#node.runScript(DESTROY, [this.#node.key('rooms'), this.#roomKey(room)], [room, this.#node.prefix]) === 1
    if (!destroyed) return false
    this.#destroyedHere(room)
    await this.#node.publish(this.#channel(room), 'destroyed', '')
    return true
  }

  async exists (room: string): Promise<boolean> {
    return await this.#node.command.sismember(this.#node.key('rooms'), room) === 1
  }

  list (): Promise<string[]> {
    return this.#node.command.smembers(this.#node.key('rooms'))
  }

  async join (room: string, member: RoomMember): Promise<JoinResult> {
    const result = await this.#node.runScript(JOIN,
      [this.#node.key('rooms'), this.#roomKey(room), this.#membershipsKey()],
      [room, member.id, `${member.joinedAt}:${this.#node.id}`, membershipKey(member.id, room)]) as JoinResult
    if (result !== 'joined') return result
    let members = this.#local.get(room)
    if (members === undefined) {
      this.#local.set(room, members = new Map())
      this.#subscriptions.set(room, this.#node.subscribe(this.#channel(room), (kind, payload) => this.#receive(room, kind, payload)))
    }
    members.set(member.id, member.joinedAt)
    try {
      // Joined only once this node hears the room: no message sent after the reply can be missed.
      await this.#subscriptions.get(room)
    } catch (error) {
      await this.leave(room, member.id).catch(() => {})
      throw error
    }
    return 'joined'
  }

  async leave (room: string, memberId: string): Promise<boolean> {
    // Local first: if Redis is away, the write-back after the outage removes the member there too.
    this.#forget(room, memberId)
    const removed = await this.#node.runScript(LEAVE, [this.#roomKey(room), this.#membershipsKey()], [memberId, membershipKey(memberId, room)])
    return removed === 1
  }

  async members (room: string): Promise<RoomMember[] | null> {
    const [exists, members] = await Promise.all([this.exists(room), this.#node.command.hgetall(this.#roomKey(room))])
    if (!exists) return null
    return Object.entries(members).map(([id, value]) => ({ id, joinedAt: Number.parseInt(value, 10) }))
  }

  async publish (message: ChatMessage): Promise<void> {
    const json = JSON.stringify(message)
    this.#events?.deliver(message, json)
    try {
      await this.#node.publish(this.#channel(message.room), 'chat', json)
    } catch (error) {
      this.#node.log.warn({ err: error, room: message.room }, 'fastify-actionhero-ws: a message reached this node\'s members only')
    }
  }

  #receive (room: string, kind: string, payload: string): void {
    if (kind === 'chat') {
      this.#events?.deliver(JSON.parse(payload) as ChatMessage, payload)
    } else if (kind === 'destroyed') {
      this.#destroyedHere(room)
    }
  }

  #destroyedHere (room: string): void {
    this.#events?.destroyed(room)
    if (this.#local.has(room)) this.#stopListening(room)
  }

  #forget (room: string, memberId: string): void {
    const members = this.#local.get(room)
    if (members !== undefined && members.delete(memberId) && members.size === 0) this.#stopListening(room)
  }

  #stopListening (room: string): void {
    this.#local.delete(room)
    this.#subscriptions.delete(room)
    this.#node.unsubscribe(this.#channel(room))
  }

  /** Writes this node's rooms and memberships back to Redis, and removes what it holds that is no longer true. */
  async #resync (): Promise<void> {
    const { command } = this.#node
    const current = new Map<string, [room: string, id: string, joinedAt: number]>()
    for (const [room, members] of this.#local) {
      for (const [id, joinedAt] of members) current.set(membershipKey(id, room), [room, id, joinedAt])
    }
    const recorded = await command.smembers(this.#membershipsKey())
    const batch = command.multi()
    for (const membership of recorded) {
      if (current.has(membership)) continue
      const [, length = '0', rest = ''] = /^(\d+):(.*)$/s.exec(membership) ?? []
      const id = rest.slice(0, Number(length))
      batch.hdel(this.#roomKey(rest.slice(id.length)), id).srem(this.#membershipsKey(), membership)
    }
    for (const room of new Set([...this.#created, ...this.#local.keys()])) batch.sadd(this.#node.key('rooms'), room)
    for (const [membership, [room, id, joinedAt]] of current) {
      batch.hset(this.#roomKey(room), id, `${joinedAt}:${this.#node.id}`).sadd(this.#membershipsKey(), membership)
    }
    await batch.exec()
  }

  #roomKey (room: string): string {
    return this.#node.key(`room:${room}`)
  }

  #membershipsKey (): string {
    return this.#node.key(`node:${this.#node.id}:memberships`)
  }

  #channel (room: string): string {
    return this.#node.key(`room:${room}`)
  }
}
