/**
 * This app server as one node of a cluster that meets in Redis: its id, its two Redis clients (one
 * for commands, one subscribed), its channels, its heartbeat, the write-back of its state whenever
 * Redis may have lost it, and the reaping of nodes that died without cleaning up. The room store and
 * the connection directory are built on it.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Cluster as IORedisCluster, Redis as IORedis } from 'ioredis'
import { NO_METRICS, type Metrics } from '../observability/metrics.js'
import { ERRORS } from '../../types/protocol.js'
import { RoomError } from '../errors.js'
import { BusError, decodeBusMessage, encodeBusMessage } from './bus.js'
import { within } from './deadline.js'
import { HEARTBEAT, parseMembership, REAP, RedisSchema } from './redis-schema.js'
import { ThrottledLog } from './throttled-log.js'
import type { RedisAddress, RedisClientLike } from '../options.js'

export interface RedisNodeOptions {
  /** `redis://` URL of the server, when neither `client` nor `cluster` is given. */
  url: string
  /**
   * A client of the app's own: used for commands, duplicated for subscribing, never closed by the
   * plugin. An ioredis `Cluster` makes this a Redis Cluster deployment.
   */
  client: RedisClientLike | null
  /** Startup nodes of a Redis Cluster, when the plugin connects to one itself. */
  cluster: RedisAddress[] | null
  /** Prefix of every key and channel, so that several apps can share one Redis. */
  prefix: string
  heartbeatInterval: number
  /** A node whose heartbeat is older than this is dead: its members are removed from every room. */
  nodeTimeout: number
  /**
   * How long a connection's request waits for Redis or for another node (a membership change), in ms;
   * also how long a node waits for pub/sub to bring a message it misses before it reads the history.
   */
  requestTimeout: number
}

/** The client the plugin drives: ioredis 6's API, which a Redis and a Cluster share for what it calls. */
export type RedisClient = IORedis | IORedisCluster

type ChannelHandler = (kind: string, payload: string) => void
type Listener = Parameters<IORedis['on']>[1]
/** A membership a reaping step removed: its encoded value, and the room's presence version when it was its key's last there. */
export interface ReapedMember {
  room: string
  id: string
  value: string
  lastOfKey: number | null
}

type Reaper = (removed: readonly ReapedMember[]) => void

/** How much of a dead node one reaping step removes, so that no single call blocks Redis for long. */
const REAP_BATCH = 200
/** How many dead nodes one heartbeat claims at most. */
const DEAD_PER_BEAT = 16

export class RedisNode {
  readonly id = randomUUID()
  readonly schema: RedisSchema
  readonly requestTimeout: number
  readonly log: FastifyBaseLogger
  /** Warnings a fault may repeat, at most one per topic every few seconds. */
  readonly warnings: ThrottledLog
  // Created by start(), which loads ioredis: an app without `redis` never pays for its memory.
  command!: RedisClient
  subscriber!: RedisClient
  /** On Redis Cluster, traffic goes over sharded pub/sub: each channel only to the shard that owns it. */
  #sharded = false
  readonly #options: RedisNodeOptions
  readonly #metrics: Metrics
  readonly #channels = new Map<string, ChannelHandler>()
  readonly #resyncs: Array<() => Promise<void>> = []
  readonly #reapers: Reaper[] = []
  readonly #resubscribed: Array<() => void> = []
  /** Every listener this node added to a client, with its removal: a client of the app's outlives the plugin. */
  readonly #removals: Array<() => void> = []
  /** The clients that are not connected now; an outage lasts while either is. */
  readonly #down = new Set<'command' | 'subscriber'>()
  #heartbeat: NodeJS.Timeout | null = null
  #started = false
  #resyncNeeded = true
  #tick: Promise<void> | null = null

  constructor (options: RedisNodeOptions, log: FastifyBaseLogger, metrics: Metrics = NO_METRICS) {
    this.#options = options
    this.#metrics = metrics
    this.schema = new RedisSchema(options.prefix)
    this.requestTimeout = options.requestTimeout
    this.log = log
    this.warnings = new ThrottledLog(log)
  }

  /** Whether room traffic goes over sharded pub/sub (Redis Cluster): a script that publishes must use SPUBLISH. */
  get sharded (): boolean {
    return this.#sharded
  }

  /** Whether this node lost Redis: while either of its connections (commands, subscriber) is closed. */
  get outage (): boolean {
    return this.#down.size > 0
  }

  /** Runs `resync` whenever this node may have lost its state in Redis (a reconnect, or being reaped), to write it back. */
  onResync (resync: () => Promise<void>): void {
    this.#resyncs.push(resync)
  }

  /**
   * Calls `listener` once the subscriber connection came back and listens again to every channel:
   * what was published meanwhile never reached this node, and is to be read from the history.
   */
  onResubscribed (listener: () => void): void {
    this.#resubscribed.push(listener)
  }

  /** Calls `reaper` with the room memberships of every dead node this node reaped. */
  onReap (reaper: Reaper): void {
    this.#reapers.push(reaper)
  }

  async start (): Promise<void> {
    const { Redis, Cluster } = await import('ioredis')
    const { client, cluster, url } = this.#options
    // Named, so that an operator's CLIENT LIST tells which node each connection is.
    const name = (role: string): string => `${this.#options.prefix}node:${this.id}:${role}`
    // Without an offline queue a command fails at once while Redis is away, instead of piling up; one
    // whose answer a lost connection took is not sent again (it may have run): its caller's deadline
    // fails it, and the write-back repairs what it may have written.
    const standalone = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, connectionName: name('command') }
    if (client !== null) {
      this.command = client as RedisClient
      this.#sharded = isClusterClient(client, Cluster)
    } else if (cluster !== null) {
      // ioredis's cluster ready check goes through the offline queue: without one, the node waits for the masters itself.
      this.command = new Cluster(cluster, { lazyConnect: true, enableOfflineQueue: false, enableReadyCheck: false, redisOptions: { maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, connectionName: name('command') } })
      this.#sharded = true
    } else {
      this.command = new Redis(url, standalone)
    }
    this.subscriber = this.#sharded
      ? (this.command as IORedisCluster).duplicate(undefined, { lazyConnect: true, enableOfflineQueue: true, enableReadyCheck: true, shardedSubscribers: true, redisOptions: { connectionName: name('subscriber') } })
      : (this.command as IORedis).duplicate({ lazyConnect: true, connectionName: name('subscriber'), autoResubscribe: false })
    this.#watch(this.command, 'command')
    this.#watch(this.subscriber, 'subscriber')
    // ioredis's own resubscribing leaves its promise unobserved: a connection lost again at once would
    // reject it with nobody listening. This node resubscribes itself, and hears of a failure.
    if (!this.#sharded) this.#listen(this.subscriber, 'ready', () => this.#resubscribe())
    // ioredis's sharded subscribers resubscribe themselves once the cluster's slots are known again (a
    // reconnect, a failover); their subscriptions are made sure of before the history is read.
    else this.#listen(this.subscriber, 'subscribersReady', () => this.#resubscribeSharded())
    this.#listen(this.subscriber, this.#sharded ? 'smessage' : 'message', (channel: string, text: string) => this.#receive(channel, text))
    try {
      if (this.command.status === 'wait') await this.command.connect()
      if (this.#sharded) await mastersReady(this.command as IORedisCluster)
      await this.subscriber.connect()
    } catch (error) {
      throw new Error(`fastify-actionhero-ws: cannot reach Redis: ${(error as Error).message}`, { cause: error })
    }
    this.#started = true
    // No reaping yet: what this node is part of (the room store) hears of departures only once started.
    await this.#beat({ reap: false })
    this.#heartbeat = setInterval(() => this.#beatOnce(), this.#options.heartbeatInterval)
    this.#heartbeat.unref()
  }

  /** Leaves the cluster: this node's keys go, and the clients it created close once their replies are in. */
  async close (): Promise<void> {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
    this.#started = false
    if (this.command === undefined) return
    await this.#bounded(this.#tick)
    if (!this.outage) {
      await this.#bounded(this.command.multi()
        .zrem(this.schema.nodes, this.id)
        .del(this.schema.membershipsOf(this.id), this.schema.connectionsOf(this.id))
        .exec())
        .catch((error: unknown) => this.warn('close', error, 'could not remove this node from Redis; the others will reap it'))
    }
    const ours = this.#options.client === null ? [this.subscriber, this.command] : [this.subscriber]
    if (this.#options.client === null) await this.#bounded(this.command.quit()).catch(() => {})
    for (const client of ours) client.disconnect()
    for (const remove of this.#removals.splice(0)) remove()
    // A client of ours may still report a failure it was in the middle of: it has nowhere to go now.
    for (const client of ours) client.on('error', () => {})
  }

  /** Waits for `work` at most requestTimeout: a Cluster client queues commands while Redis is away, and close must not wait for it. */
  async #bounded (work: Promise<unknown> | null): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([work, new Promise((resolve) => { timer = setTimeout(resolve, this.requestTimeout) })])
      .finally(() => clearTimeout(timer))
  }

  /**
   * Waits for `work`, a Redis request a connection waits for, at most requestTimeout: past it the
   * request fails with the protocol's `clusterTimeout`, and a failure becomes `clusterUnavailable`
   * (the cause goes to the log). `writes`: the work writes this node's state, so that a write whose
   * outcome is unknown is written back at the next heartbeat.
   */
  async deadline<Result> (work: Promise<Result>, writes: boolean): Promise<Result> {
    try {
      return await within(work, this.requestTimeout, () => new RoomError(ERRORS.clusterTimeout))
    } catch (error) {
      if (writes) this.writeFailed(error)
      if (error instanceof RoomError) throw error
      this.warn('request', error, 'a request to Redis failed')
      throw new RoomError(ERRORS.clusterUnavailable, { cause: error })
    }
  }

  /** Subscribes this node to `channel`; `handler` gets what other nodes publish there. */
  async subscribe (channel: string, handler: ChannelHandler): Promise<void> {
    this.#channels.set(channel, handler)
    await (this.#sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel))
  }

  unsubscribe (channel: string): void {
    this.#channels.delete(channel)
    const done = this.#sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)
    done.catch((error: unknown) => this.warn('unsubscribe', error, 'could not unsubscribe from a channel', { channel }))
  }

  /** Publishes to the other nodes on `channel` (a node ignores what it published itself). */
  async publish (channel: string, kind: string, payload: string): Promise<void> {
    const message = encodeBusMessage(kind, this.id, payload)
    await (this.#sharded ? this.command.spublish(channel, message) : this.command.publish(channel, message))
  }

  /**
   * Runs a Lua script. Always by EVAL, never EVALSHA-then-EVAL: a retry after NOSCRIPT would reach
   * Redis after commands sent later, and a write-back must keep its place among joins and leaves.
   */
  runScript (script: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.command.eval(script, keys.length, ...keys, ...args)
  }

  /** A write failed and may or may not have happened: the next heartbeat writes this node's state back. */
  writeFailed (error: unknown): void {
    this.#resyncNeeded = true
    this.warn('write', error, 'a cluster write failed; this node\'s state is written back at its next heartbeat')
  }

  /** Logs a failure at warn, rate-limited per `topic`, with this node's id. */
  warn (topic: string, error: unknown, what: string, details: Record<string, unknown> = {}): void {
    this.warnings.warn(topic, { err: error, node: this.id, ...details }, `fastify-actionhero-ws: ${what}`)
  }

  // ----- the connections ----------------------------------------------------------------------------

  #listen (client: RedisClient, event: string, listener: Listener): void {
    client.on(event, listener)
    this.#removals.push(() => client.removeListener(event, listener))
  }

  #watch (client: RedisClient, name: 'command' | 'subscriber'): void {
    // An error event alone says nothing of the connection (ioredis retries): only a close starts an outage.
    this.#listen(client, 'error', (error: Error) => this.warn(`redis-${name}`, error, 'Redis client error', { connection: name }))
    this.#listen(client, 'close', () => this.#lost(name))
    this.#listen(client, 'ready', () => this.#back(name))
  }

  #lost (name: 'command' | 'subscriber'): void {
    if (!this.#started) return
    const first = this.#down.size === 0
    this.#down.add(name)
    // Whatever happened while away (a message missed, Redis restarted), the state is written back on return.
    this.#resyncNeeded = true
    if (first) this.log.error({ node: this.id, connection: name }, 'fastify-actionhero-ws: lost Redis; requests that need it fail until it is back')
  }

  #back (name: 'command' | 'subscriber'): void {
    if (!this.#started || !this.#down.delete(name) || this.#down.size > 0) return
    this.log.info({ node: this.id }, 'fastify-actionhero-ws: Redis is back; writing this node\'s rooms and connections back')
    this.#beatOnce()
  }

  #resubscribe (): void {
    if (!this.#started || this.#channels.size === 0) return
    this.subscriber.subscribe(...this.#channels.keys())
      .then(() => this.#caughtUp(), (error: unknown) => this.warn('subscribe', error, 'could not subscribe again after a reconnect; trying at the next one'))
  }

  #resubscribeSharded (): void {
    if (!this.#started || this.#channels.size === 0) return
    // A channel subscribed twice is subscribed once: these only make sure of ioredis's own.
    Promise.all([...this.#channels.keys()].map((channel) => this.subscriber.ssubscribe(channel)))
      .then(() => this.#caughtUp(), (error: unknown) => this.warn('subscribe', error, 'could not subscribe again after a reconnect; trying at the next one'))
  }

  #caughtUp (): void {
    for (const listener of this.#resubscribed) listener()
  }

  #receive (channel: string, text: string): void {
    try {
      const message = decodeBusMessage(text)
      if (message.origin === this.id) return
      const handler = this.#channels.get(channel)
      if (handler === undefined) throw new BusError('no handler for this channel')
      handler(message.kind, message.payload)
    } catch (error) {
      // Nothing a peer publishes may throw out of this listener.
      this.#metrics.busMessageDropped()
      this.warnings.warn('bus', { node: this.id, channel, reason: errorReason(error) }, 'fastify-actionhero-ws: dropped a message from the bus')
    }
  }

  // ----- liveness ------------------------------------------------------------------------------------

  /** One heartbeat at a time: a slow Redis never piles them up. */
  #beatOnce (): void {
    this.#tick ??= this.#beat()
      .catch((error: unknown) => this.warn('heartbeat', error, 'heartbeat failed'))
      .finally(() => { this.#tick = null })
  }

  /** Heartbeat; writes this node's state back when it may be lost; reaps the dead nodes it sees. */
  async #beat ({ reap = true } = {}): Promise<void> {
    if (this.outage) return
    const [status, ...dead] = await this.runScript(HEARTBEAT, [this.schema.nodes], [this.id, this.#options.nodeTimeout, DEAD_PER_BEAT]) as string[]
    if (status === 'reaped' && !this.#resyncNeeded) {
      this.log.warn({ node: this.id }, 'fastify-actionhero-ws: this node had been given up for dead; writing its state back')
    }
    if (status === 'reaped' || this.#resyncNeeded) {
      this.#resyncNeeded = false
      try {
        for (const resync of this.#resyncs) {
          // A write-back whose transaction Redis's crash left without an answer would otherwise hold the
          // heartbeat, and this node would never write itself back again.
          const bound = Math.max(this.requestTimeout, this.#options.nodeTimeout)
          await within(resync(), bound, () => new Error(`no answer within ${bound} ms`))
        }
      } catch (error) {
        // Tried again at the next heartbeat; reaping the dead need not wait for it.
        this.#resyncNeeded = true
        this.warn('resync', error, 'writing this node\'s state back to Redis failed; trying again at the next heartbeat')
      }
    }
    for (const node of reap ? dead : []) {
      if (node === this.id) continue
      await this.#reap(node).catch((error: unknown) => this.warn('reap', error, 'reaping a dead node failed', { dead: node }))
    }
  }

  /** Removes every trace of a dead node, one bounded step at a time, for as long as it stays dead. */
  async #reap (node: string): Promise<void> {
    const { schema } = this
    const removed: ReapedMember[] = []
    let status = 'more'
    while (status === 'more') {
      const [memberships, connections] = await Promise.all([
        this.command.srandmember(schema.membershipsOf(node), REAP_BATCH),
        this.command.hrandfield(schema.connectionsOf(node), REAP_BATCH, 'WITHVALUES') as Promise<string[] | null>
      ])
      const keys = [schema.nodes, schema.membershipsOf(node), schema.connectionsOf(node), schema.connections]
      const args: Array<string | number> = [node, this.#options.nodeTimeout, 0, 0]
      for (const membership of memberships) {
        const parsed = parseMembership(membership) ?? { id: '', room: '' }
        keys.push(schema.room(parsed.room), schema.presence(parsed.room))
        args.push(membership, parsed.id, parsed.room)
      }
      const flat = connections ?? []
      for (let i = 0; i < flat.length; i += 2) {
        const fingerprint = flat[i + 1] as string
        args.push(flat[i] as string, fingerprint === '' ? 0 : keys.push(schema.fingerprint(fingerprint)))
      }
      args[2] = memberships.length
      args[3] = flat.length / 2
      const [answer, ...fields] = await this.runScript(REAP, keys, args) as string[]
      status = answer as string
      for (let i = 0; i + 3 < fields.length; i += 4) {
        const [room, id, value, version] = fields.slice(i, i + 4) as [string, string, string, string]
        removed.push({ room, id, value, lastOfKey: version === '' ? null : Number(version) })
      }
    }
    if (removed.length > 0 || status === 'done') {
      this.log.warn({ node: this.id, dead: node, members: removed.length }, 'fastify-actionhero-ws: removed the members of a dead node')
    }
    this.#metrics.membersReaped(removed.length)
    for (const reaper of this.#reapers) reaper(removed)
  }
}

/** Whether an app's client is an ioredis `Cluster` (of this ioredis, or of another copy: `isCluster`). */
export function isClusterClient (client: RedisClientLike, Cluster: typeof IORedisCluster): boolean {
  return client instanceof Cluster || (client as { isCluster?: unknown }).isCluster === true
}

/** Resolves once every master of a Redis Cluster has a ready connection (they connect lazily, on their first command). */
async function mastersReady (cluster: IORedisCluster): Promise<void> {
  await Promise.all(cluster.nodes('master').map((master) => master.ping()))
}

function errorReason (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
