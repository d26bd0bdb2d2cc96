/**
 * `fastify-actionhero-ws/emitter`: reaching a cluster's sockets from a process that is not one of its
 * nodes (a queue worker, a cron job, a script), through the cluster's Redis. It is no node: it holds
 * no connection, listens to no channel and has no heartbeat; it writes what a node would, with the
 * same key schema, bus format and scripts (lib/cluster), and the nodes that hold the connections
 * deliver. It loads ioredis and the plugin's cluster modules, never Fastify, Primus or ws.
 *
 * A room message it says is stamped, kept and published by the history script as a node's is (with
 * history on); the nodes that deliver it run their `say` middleware for each receiver. What runs on
 * the sending node only does not run: no `onSayReceive` middleware, no `sayLimit`.
 */
import { randomUUID } from 'node:crypto'
import type { Cluster as IORedisCluster, Redis as IORedis } from 'ioredis'
import { ERRORS, type ChatMessage, type PushMessage, type RoomMembers } from '../types/protocol.js'
import { encodeBusMessage, encodeCommand, encodePush as nodePush, type ConnectionCommand } from './cluster/bus.js'
import { within } from './cluster/deadline.js'
import { locate, publishToNodes, type RedisLink } from './cluster/directory.js'
import { isClusterClient, type RedisClient } from './cluster/redis-node.js'
import { pushStream } from './cluster/redis-pushes.js'
import { RedisSchema } from './cluster/redis-schema.js'
import { RoomError } from './errors.js'
import { encodePush } from './json.js'
import { disconnectCommand, type ConnectionTarget, type DisconnectOptions } from './kicks.js'
import { isRoomName, resolveEmitterOptions, type EmitterOptions, type ResolvedEmitterOptions } from './options.js'
import { roomMembersView } from './rooms/member-details.js'
import { RedisHistory, roomStream } from './rooms/redis-history.js'
import { readMembers } from './rooms/redis-store.js'

export type { ConnectionTarget, DisconnectOptions } from './kicks.js'
export type { EmitterOptions, RedisAddress, RedisClientLike, RedisOptions } from './options.js'

/** The cluster's Redis, as an emitter reaches it. */
class EmitterLink implements RedisLink {
  readonly id = `emitter:${randomUUID()}`
  readonly schema: RedisSchema
  readonly command: RedisClient
  readonly sharded: boolean

  constructor (schema: RedisSchema, command: RedisClient, sharded: boolean) {
    this.schema = schema
    this.command = command
    this.sharded = sharded
  }

  runScript (script: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.command.eval(script, keys.length, ...keys, ...args)
  }

  async publish (channel: string, kind: string, payload: string): Promise<void> {
    const message = encodeBusMessage(kind, this.id, payload)
    await (this.sharded ? this.command.spublish(channel, message) : this.command.publish(channel, message))
  }
}

/** The Redis an emitter reaches, and the histories its messages are kept in (history on). */
interface Reach {
  link: EmitterLink
  rooms: RedisHistory | null
  pushes: RedisHistory<PushMessage> | null
}

export class Emitter {
  readonly #options: ResolvedEmitterOptions
  /** Connected on first use; ioredis is loaded then. */
  #reached: Promise<Reach> | null = null
  /** Whether the Redis client is the emitter's own, to close with it. */
  #owned = false
  #closed = false

  /** @internal: `createEmitter` makes it. */
  constructor (options: ResolvedEmitterOptions) {
    this.#options = options
  }

  /**
   * Says `message` in `room` as `from` (a string, or 0 for the server, the default) would: to every
   * member on every node, stamped and kept in the room's history when history is on. Rejects with
   * `room does not exist` for a room that does not.
   */
  async say (room: string, message: unknown, from: string | 0 = 0): Promise<void> {
    if (!isRoomName(room)) throw new RoomError(ERRORS.roomRequired)
    if (message === undefined || (from !== 0 && typeof from !== 'string')) throw new RoomError(ERRORS.sayIncomplete)
    const chat: ChatMessage = { context: 'user', room, from, message, sentAt: Date.now() }
    const json = JSON.stringify(chat)
    const { link, rooms } = await this.#reach()
    if (await this.#deadline(link.command.sismember(link.schema.rooms, room)) !== 1) throw new RoomError(ERRORS.roomNotFound)
    if (rooms === null) return await this.#deadline(link.publish(link.schema.roomChannel(room), 'chat', json))
    await this.#deadline(rooms.publish(room, chat, null))
  }

  /** A message of the server's (`from: 0`) to every member of `room`: `say` with no sender. */
  broadcast (room: string, message: unknown): Promise<void> {
    return this.say(room, message, 0)
  }

  /** Sends `message` (a JSON object) to connection `connectionId` on whichever node holds it; resolves false when none does. */
  async send (connectionId: string, message: object): Promise<boolean> {
    const json = encodePush(message)
    const { link } = await this.#reach()
    return await this.#deadline(this.#publishTo(link, connectionId, 'push', (ids) => nodePush(ids, json))) > 0
  }

  /**
   * Sends `message` to every connection of the visitor with this fingerprint, on every node; with
   * history on it is kept in the visitor's push stream, as a node's `sendToFingerprint` keeps it.
   * Resolves how many connections the visitor has.
   */
  async sendToFingerprint (fingerprint: string, message: object): Promise<number> {
    const json = encodePush(message)
    const { link, pushes } = await this.#reach()
    if (pushes === null) return this.#deadline(this.#publishTo(link, { fingerprint }, 'push', (ids) => nodePush(ids, json)))
    const [, count] = await this.#deadline(Promise.all([pushes.publish(fingerprint, message as PushMessage, null), link.command.scard(link.schema.fingerprint(fingerprint))]))
    return count
  }

  /**
   * Closes connection `target` (or every connection of `{ fingerprint }`) on whichever node holds it,
   * telling the client why, as a node's `disconnect` does; resolves how many connections it reached.
   */
  async disconnect (target: ConnectionTarget, options?: DisconnectOptions): Promise<number> {
    return this.#command(target, disconnectCommand(options))
  }

  /** Has `authorize` run again for `target`'s connections, as a node's `reauthorize` does; resolves how many. */
  reauthorize (target: ConnectionTarget): Promise<number> {
    return this.#command(target, { kind: 'reauthorize' })
  }

  /** The members of `room` on every node, as `roomView` answers. */
  async roomView (room: string): Promise<RoomMembers> {
    if (!isRoomName(room)) throw new RoomError(ERRORS.roomRequired)
    const members = await this.#deadline(readMembers((await this.#reach()).link, room))
    if (members === null) throw new RoomError(ERRORS.roomNotFound)
    return roomMembersView(room, members)
  }

  /** Closes the Redis connection the emitter made (one given to it stays open). */
  async close (): Promise<void> {
    this.#closed = true
    const reached = this.#reached
    this.#reached = null
    if (reached === null) return
    const command = await reached.then(({ link }) => link.command, () => null)
    if (command === null || !this.#owned) return
    await this.#deadline(command.quit()).catch(() => {})
    command.disconnect()
  }

  async #command (target: ConnectionTarget, command: ConnectionCommand): Promise<number> {
    const { link } = await this.#reach()
    return this.#deadline(this.#publishTo(link, target, command.kind, (ids) => encodeCommand(ids, command)))
  }

  async #publishTo (link: EmitterLink, target: ConnectionTarget, kind: string, payloadFor: (ids: string[]) => string): Promise<number> {
    return publishToNodes(link, await locate(link, target), kind, payloadFor)
  }

  #reach (): Promise<Reach> {
    if (this.#closed) return Promise.reject(new Error('fastify-actionhero-ws: the emitter is closed'))
    this.#reached ??= this.#connect().then((link) => {
      const { history, largest } = this.#options
      if (history === false) return { link, rooms: null, pushes: null }
      return { link, rooms: new RedisHistory(link, history, roomStream(link, largest)), pushes: new RedisHistory<PushMessage>(link, history, pushStream(link, largest)) }
    })
    return this.#reached
  }

  async #connect (): Promise<EmitterLink> {
    const { Redis, Cluster } = await import('ioredis')
    const { client, cluster, url, prefix } = this.#options.redis
    const schema = new RedisSchema(prefix)
    if (client !== null) return new EmitterLink(schema, client as RedisClient, isClusterClient(client, Cluster))
    this.#owned = true
    const name = `${prefix}emitter`
    const command: IORedis | IORedisCluster = cluster !== null
      ? new Cluster(cluster, { redisOptions: { maxRetriesPerRequest: 1, connectionName: name } })
      : new Redis(url, { maxRetriesPerRequest: 1, connectionName: name })
    // ioredis retries a lost connection by itself; what fails meanwhile rejects the call that needed it.
    command.on('error', () => {})
    return new EmitterLink(schema, command, cluster !== null)
  }

  /** Waits for `work` at most `redis.requestTimeout`, then fails with the protocol's `clusterTimeout`. */
  #deadline<Result> (work: Promise<Result>): Promise<Result> {
    return within(work, this.#options.redis.requestTimeout, () => new RoomError(ERRORS.clusterTimeout))
  }
}

/**
 * An emitter for the cluster whose nodes have these `redis`, `history` and `server.maxLength` options
 * (give it the same): `redis.client` (an ioredis `Redis` or `Cluster` of the app's, left open), or
 * `redis.url` / `redis.cluster`, and `redis.prefix`.
 */
export function createEmitter (options: EmitterOptions): Emitter {
  return new Emitter(resolveEmitterOptions(options))
}
