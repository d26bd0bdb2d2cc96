/**
 * This app server as one node of a cluster that meets in Redis: its id, its two Redis clients (one
 * for commands, one subscribed), its channel, its heartbeat, and the reaping of nodes that died
 * without cleaning up. The room store and the connection directory are built on it.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'

export interface RedisNodeOptions {
  /** `redis://` URL of the server, when `client` is not given. */
  url: string
  /**
   * A client of the app's own (a Sentinel-configured client works too): used for commands, duplicated for
   * subscribing, never closed by the plugin.
   */
  client: Redis | null
  /** Prefix of every key and channel, so that several apps can share one Redis. */
  prefix: string
  heartbeatInterval: number
  /** A node whose heartbeat is older than this is dead: its members are removed from every room. */
  nodeTimeout: number
  /** How long this node waits for another node to answer a request (a membership change), in ms. */
  requestTimeout: number
}

/** A room membership of a node's connection, as the scripts below spell it: unambiguous whatever the room's name. */
export function membershipKey (connectionId: string, room: string): string {
  return `${connectionId.length}:${connectionId}${room}`
}

// Heartbeat, then claim the nodes whose heartbeat is too old: ZREM succeeds for one claimant only.
const HEARTBEAT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
for _, node in ipairs(dead) do redis.call('ZREM', KEYS[1], node) end
return dead`

// Removes every trace of a dead node; returns the memberships it removed as room, id, room, id...
const REAP = `
local prefix, node = ARGV[1], ARGV[2]
local removed = {}
for _, membership in ipairs(redis.call('SMEMBERS', prefix .. 'node:' .. node .. ':memberships')) do
  local length, rest = string.match(membership, '^(%d+):(.*)$')
  local id, room = string.sub(rest, 1, tonumber(length)), string.sub(rest, tonumber(length) + 1)
  if redis.call('HDEL', prefix .. 'room:' .. room, id) == 1 then
    table.insert(removed, room)
    table.insert(removed, id)
  end
end
local connections = redis.call('HGETALL', prefix .. 'node:' .. node .. ':connections')
for i = 1, #connections, 2 do
  redis.call('HDEL', prefix .. 'connections', connections[i])
  if connections[i + 1] ~= '' then redis.call('SREM', prefix .. 'fingerprint:' .. connections[i + 1], connections[i]) end
end
redis.call('DEL', prefix .. 'node:' .. node .. ':memberships', prefix .. 'node:' .. node .. ':connections')
return removed`

type ChannelHandler = (kind: string, payload: string) => void

export class RedisNode {
  readonly id = randomUUID()
  readonly prefix: string
  readonly requestTimeout: number
  // Created by start(), which loads ioredis: an app without `redis` never pays for its memory.
  command!: Redis
  subscriber!: Redis
  readonly log: FastifyBaseLogger
  readonly #options: RedisNodeOptions
  readonly #ownsCommandClient: boolean
  readonly #channels = new Map<string, ChannelHandler>()
  readonly #scripts = new Map<string, string>()
  readonly #resyncs: Array<() => Promise<void>> = []
  readonly #reapers: Array<(removed: Array<[room: string, id: string]>) => void> = []
  #heartbeat: NodeJS.Timeout | null = null
  #connected = false
  #outage = false

  constructor (options: RedisNodeOptions, log: FastifyBaseLogger) {
    this.#options = options
    this.prefix = options.prefix
    this.requestTimeout = options.requestTimeout
    this.log = log
    this.#ownsCommandClient = options.client === null
  }

  key (name: string): string {
    return this.prefix + name
  }

  channelOfNode (node: string): string {
    return `${this.prefix}node:${node}`
  }

  /** Runs `resync` whenever this node (re)connects to Redis, to write its state back. */
  onResync (resync: () => Promise<void>): void {
    this.#resyncs.push(resync)
  }

  /** Calls `reaper` with the room memberships of every dead node this node reaped. */
  onReap (reaper: (removed: Array<[room: string, id: string]>) => void): void {
    this.#reapers.push(reaper)
  }

  async start (): Promise<void> {
    const { Redis } = await import('ioredis')
    // Without an offline queue a command fails at once while Redis is away, instead of piling up.
    this.command = this.#options.client ?? new Redis(this.#options.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    this.subscriber = this.command.duplicate({ lazyConnect: true })
    this.command.on('error', (error: Error) => this.#lost(error))
    this.subscriber.on('error', (error: Error) => this.#lost(error))
    this.command.on('ready', () => { if (this.#connected) this.#recovered() })
    this.subscriber.on('message', (channel: string, text: string) => this.#receive(channel, text))
    try {
      if (this.command.status === 'wait') await this.command.connect()
      await this.subscriber.connect()
    } catch (error) {
      throw new Error(`fastify-actionhero-ws: cannot reach Redis: ${(error as Error).message}`, { cause: error })
    }
    this.#connected = true
    await this.#sync()
    this.#heartbeat = setInterval(() => { this.#beat().catch(() => {}) }, this.#options.heartbeatInterval)
    this.#heartbeat.unref()
  }

  /** Leaves the cluster: this node's keys go, and the clients it created close once their replies are in. */
  async close (): Promise<void> {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
    if (this.command === undefined) return
    this.#connected = false
    await this.command.multi()
      .zrem(this.key('nodes'), this.id)
      .del(this.key(`node:${this.id}:memberships`), this.key(`node:${this.id}:connections`))
      .exec().catch(() => {})
    this.subscriber.disconnect()
    if (this.#ownsCommandClient) await this.command.quit().catch(() => this.command.disconnect())
  }

  /** Subscribes this node to `channel`; `handler` gets what other nodes publish there. */
  async subscribe (channel: string, handler: ChannelHandler): Promise<void> {
    this.#channels.set(channel, handler)
    await this.subscriber.subscribe(channel)
  }

  unsubscribe (channel: string): void {
    this.#channels.delete(channel)
    this.subscriber.unsubscribe(channel).catch(() => {})
  }

  /** Publishes to the other nodes on `channel` (a node ignores what it published itself). */
  async publish (channel: string, kind: string, payload: string): Promise<void> {
    await this.command.publish(channel, `${kind}\n${this.id}\n${payload}`)
  }

  /** Runs a Lua script by its digest, sending the script itself only when Redis does not know it yet. */
  async runScript (script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    let sha = this.#scripts.get(script)
    if (sha === undefined) this.#scripts.set(script, sha = createHash('sha1').update(script).digest('hex'))
    try {
      return await this.command.evalsha(sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error as Error).message.startsWith('NOSCRIPT')) throw error
      return this.command.eval(script, keys.length, ...keys, ...args)
    }
  }

  #receive (channel: string, text: string): void {
    const kindEnd = text.indexOf('\n')
    const originEnd = text.indexOf('\n', kindEnd + 1)
    if (kindEnd === -1 || originEnd === -1 || text.slice(kindEnd + 1, originEnd) === this.id) return
    this.#channels.get(channel)?.(text.slice(0, kindEnd), text.slice(originEnd + 1))
  }

  async #sync (): Promise<void> {
    for (const resync of this.#resyncs) await resync()
    await this.#beat()
  }

  async #beat (): Promise<void> {
    const dead = await this.runScript(HEARTBEAT, [this.key('nodes')], [this.id, this.#options.nodeTimeout]) as string[]
    for (const node of dead) {
      const flat = await this.runScript(REAP, [], [this.prefix, node]) as string[]
      const removed: Array<[string, string]> = []
      for (let i = 0; i < flat.length; i += 2) removed.push([flat[i] as string, flat[i + 1] as string])
      this.log.warn({ node, members: removed.length }, 'fastify-actionhero-ws: removed the members of a dead node')
      for (const reaper of this.#reapers) reaper(removed)
    }
  }

  #lost (error: Error): void {
    if (this.#outage || !this.#connected) return
    this.#outage = true
    this.log.error({ err: error }, 'fastify-actionhero-ws: lost Redis; local delivery goes on, the cluster waits')
  }

  #recovered (): void {
    this.#outage = false
    this.#sync().then(
      () => this.log.info('fastify-actionhero-ws: Redis is back; this node\'s rooms and connections are written back'),
      (error: unknown) => this.log.error({ err: error }, 'fastify-actionhero-ws: resynchronising with Redis failed'))
  }
}
