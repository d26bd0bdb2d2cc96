/**
 * The ActionHero WebSocket server of one Fastify app (`fastify.actionheroWs`): its connections, actions
 * and hooks, its Primus server, and its shutdown. State lives here, never in
 * module globals, so two apps in one process are independent.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { PushMessage, WelcomeMessage } from '../types/protocol.js'
import { ActionRegistry, type ActionDefinition } from './actions.js'
import type { ConnectionCommand } from './cluster/bus.js'
import type { Cluster } from './cluster/cluster.js'
import { RedisCluster } from './cluster/redis-cluster.js'
import { RedisNode } from './cluster/redis-node.js'
import { RedisPushStore } from './cluster/redis-pushes.js'
import { Connection } from './connection.js'
import { Credentials } from './credentials.js'
import { dispatchMessage, type ServerContext } from './dispatch.js'
import { InvalidHookError, InvalidOptionError } from './errors.js'
import { PublicFolder } from './files.js'
import { Gate, type Handshake } from './gate.js'
import { encodeJson, encodePush } from './json.js'
import { disconnectCommand, type ConnectionTarget, type DisconnectOptions } from './kicks.js'
import { Lifecycle } from './lifecycle.js'
import { NO_METRICS, type Metrics } from './observability/metrics.js'
import type { ResolvedOptions } from './options.js'
import type { PrimusServer, Spark } from './primus.js'
import { MemoryPushStore } from './pushes/memory-pushes.js'
import { Pushes } from './pushes/pushes.js'
import { MemoryRoomStore } from './rooms/memory-store.js'
import { Presence } from './rooms/presence.js'
import { RedisRoomStore } from './rooms/redis-store.js'
import { Rooms } from './rooms/rooms.js'
import type { RoomStore } from './rooms/store.js'
import { closeConnections } from './shutdown.js'
import { Transport } from './transport/index.js'

export type ConnectionHook = (connection: Connection) => void | Promise<void>
export type ConnectionHookName = 'onConnect' | 'onDisconnect'

export class ActionheroWs implements ServerContext {
  /** This process's connections, by id. */
  readonly connections = new Map<string, Connection>()
  readonly actions: ActionRegistry
  readonly lifecycle = new Lifecycle()
  readonly rooms: Rooms
  /** The pushes of `sendToFingerprint`, kept per visitor with history on. */
  readonly pushes: Pushes
  /** The public folder, as the `file` event reads it. */
  readonly publicFolder: PublicFolder
  /** The expiry, refresh and reauthorization of the connections' credentials. */
  readonly credentials: Credentials
  readonly log: FastifyBaseLogger
  /** What this app counts, for the plugin's modules: `NO_METRICS` without the `metrics` option (the metrics are read from the registry). */
  readonly metrics: Metrics
  readonly #options: ResolvedOptions
  readonly #hooks: Record<ConnectionHookName, ConnectionHook[]> = { onConnect: [], onDisconnect: [] }
  /** The onConnect hooks still running, per connection: its onDisconnect hooks wait for them. */
  readonly #connecting = new WeakMap<Connection, Promise<void>>()
  /** How frames reach the sockets and arrive from them. */
  readonly #transport: Transport
  /** This node in Redis, and the other nodes through it, when the app scales out. */
  readonly #redis: RedisNode | null
  readonly #cluster: Cluster | null
  #primus: PrimusServer | null = null

  /** @internal: the plugin creates it. */
  constructor (options: ResolvedOptions, log: FastifyBaseLogger, metrics: Metrics = NO_METRICS) {
    this.#options = options
    this.log = log
    this.metrics = metrics
    this.actions = new ActionRegistry(log, metrics)
    this.publicFolder = new PublicFolder(options.publicDir, { maxBytes: options.maxFileBytes, maxConcurrentReads: options.maxConcurrentFileReads })
    this.credentials = new Credentials({ authorize: options.authorize, refresh: options.refresh, grace: options.refreshGrace, log })
    // One process keeps rooms and pushes in memory; with `redis`, this node shares them with the others.
    // A message larger than a frame may be is delivered but never kept.
    const largest = options.server.maxLength
    const redis = options.redis === null ? null : new RedisNode(options.redis, log, metrics)
    const store: RoomStore = redis === null ? new MemoryRoomStore({ history: options.history, largest }) : new RedisRoomStore(redis, options.history, largest)
    this.#redis = redis
    const cluster = redis === null ? null : new RedisCluster(redis, this.connections)
    this.#cluster = cluster
    this.pushes = new Pushes(redis === null || cluster === null
      ? new MemoryPushStore({ history: options.history, largest })
      : new RedisPushStore(redis, cluster, options.history, largest), { maxBufferedBytes: options.maxBufferedBytes, log, metrics })
    this.rooms = new Rooms({
      store,
      connections: this.connections,
      cluster: this.#cluster,
      echoSay: options.echoSay,
      historySize: options.history === false ? 0 : options.history.size,
      maxBufferedBytes: options.maxBufferedBytes,
      sayLimit: options.sayLimit,
      memberDetails: options.memberDetails,
      presence: options.presence === null ? null : new Presence(options.presence),
      log,
      metrics
    })
    for (const action of options.actions) this.actions.add(action)
    const welcome: WelcomeMessage | null = options.welcomeMessage === false ? null : { context: 'api', welcome: options.welcomeMessage }
    this.#transport = new Transport({
      server: options.server,
      maxBufferedBytes: options.maxBufferedBytes,
      // Encoded once: every connection sends the same bytes.
      greeting: welcome === null ? null : { message: welcome, frame: Buffer.from(encodeJson(welcome) as string) },
      log,
      metrics,
      receive: (connection, message) => { dispatchMessage(this, connection, message) }
    })
    metrics.watch({
      connections: () => this.connections.size,
      rooms: () => this.rooms.localCounts(),
      redisUp: redis === null ? null : () => redis.outage ? 0 : 1
    })
  }

  /** The largest HTTP body a request under the socket's path may announce (socket-route.ts). */
  get maxBodyBytes (): number {
    return this.#transport.maxBodyBytes
  }

  get simultaneousActions (): number {
    return this.#options.simultaneousActions
  }

  get maxPendingRequests (): number {
    return this.#options.maxPendingRequests
  }

  /** The Primus server, for Primus plugins. */
  get primus (): PrimusServer {
    if (this.#primus === null) throw new InvalidOptionError('enabled', 'is false: there is no Primus server')
    return this.#primus
  }

  addAction (definition: ActionDefinition): this {
    this.actions.add(definition)
    return this
  }

  addHook (name: ConnectionHookName, hook: ConnectionHook): this {
    if (!(name in this.#hooks)) throw new InvalidHookError(String(name), 'is not one of "onConnect", "onDisconnect"')
    if (typeof hook !== 'function') throw new InvalidHookError(name, 'must be given a function')
    this.#hooks[name].push(hook)
    return this
  }

  /**
   * Sends `message` to connection `connectionId` on any node; resolves false when no node has it open.
   * Fire-and-forget: it is not kept, and a connection that drops before it arrives never gets it.
   */
  async send (connectionId: string, message: object): Promise<boolean> {
    const json = encodePush(message)
    const connection = this.connections.get(connectionId)
    if (connection !== undefined) return connection.write(json, message)
    return this.#cluster?.send(connectionId, json) ?? false
  }

  /**
   * Sends `message` to every connection of the visitor with this fingerprint, on every node; with
   * history on it is kept too, for a page of the visitor's that reconnects within `ttl`. Resolves how
   * many connections the visitor has (on every node); rejects only when nothing was sent.
   */
  async sendToFingerprint (fingerprint: string, message: object): Promise<number> {
    return this.pushes.push(fingerprint, message as PushMessage, encodePush(message))
  }

  /**
   * Closes connection `connectionId`, on any node, telling the client why (its `closed` event);
   * with `reconnect: false` (the default) it does not come back. Resolves false when no node has it.
   */
  async disconnect (connectionId: string, options?: DisconnectOptions): Promise<boolean> {
    return await this.#command(connectionId, disconnectCommand(options)) > 0
  }

  /** Closes every connection of the visitor with this fingerprint, on every node, as `disconnect` does; resolves how many. */
  disconnectFingerprint (fingerprint: string, options?: DisconnectOptions): Promise<number> {
    return this.#command({ fingerprint }, disconnectCommand(options))
  }

  /**
   * Runs `authorize` again now, with the handshake request, for connection `target` (or every
   * connection of `{ fingerprint }`), on whichever node holds it: what it returns is the connection's
   * new auth (and expiry); a refusal closes the connection with the reason. Resolves for how many
   * connections it was asked (this node's are done by then; other nodes' are on their way).
   */
  reauthorize (target: ConnectionTarget): Promise<number> {
    return this.#command(target, { kind: 'reauthorize' })
  }

  /** Carries out `command` on `target`'s connections here, and asks the other nodes to on theirs. */
  async #command (target: ConnectionTarget, command: ConnectionCommand): Promise<number> {
    const here = typeof target === 'string'
      ? [this.connections.get(target)].filter((connection) => connection !== undefined)
      : [...this.pushes.connectionsOf(target.fingerprint)]
    // One held here is nowhere else: the other nodes are asked only for a fingerprint, or an id not found.
    const elsewhere = typeof target === 'string' && here.length > 0 ? 0 : this.#cluster?.command(target, command) ?? 0
    const [, reached] = await Promise.all([Promise.all(here.map((connection) => this.#carryOut(connection, command))), elsewhere])
    return here.length + reached
  }

  async #carryOut (connection: Connection, command: ConnectionCommand): Promise<void> {
    if (command.kind === 'disconnect') connection.close(command.reason, command.reconnect)
    else await this.credentials.reauthorize(connection)
  }

  /** Joins the cluster when there is one, then starts the room store and creates the rooms of the `rooms` option. */
  async start (): Promise<void> {
    try {
      await this.#startCluster()
      await this.rooms.start(this.#options.rooms)
      await this.pushes.start()
    } catch (error) {
      await this.#redis?.close()
      throw error
    }
  }

  async #startCluster (): Promise<void> {
    await this.#redis?.start()
    await this.#cluster?.start({
      push: (connectionIds, json) => {
        for (const id of connectionIds) this.connections.get(id)?.write(json)
      },
      changeMembership: (connectionId, room, change) => this.rooms.changeLocalMembership(connectionId, room, change),
      command: (connectionIds, command) => {
        for (const id of connectionIds) {
          const connection = this.connections.get(id)
          if (connection === undefined) continue
          this.lifecycle.track(this.#carryOut(connection, command)).catch((error: unknown) =>
            this.log.error({ err: error, connection: id }, `fastify-actionhero-ws: ${command.kind} failed`))
        }
      }
    })
  }

  /**
   * Creates Primus for the socket at `pathname` (the full path, registration prefix included), and the
   * gate its requests pass; Fastify routes hand it what arrives there (socket-route.ts).
   */
  listen (pathname: string): Gate {
    const gate = new Gate({ allowedOrigins: this.#options.allowedOrigins, authorize: this.#options.authorize }, this.log, this.metrics)
    let primus: PrimusServer
    try {
      primus = this.#transport.createPrimus(pathname)
    } catch (error) {
      throw new InvalidOptionError('server', `was refused by Primus: ${(error as Error).message}`)
    }
    // Primus's `forwarded` layer reads X-Forwarded-For, trusting it whoever sent it; connections take
    // their address from the Fastify request, by the app's trustProxy rules. Its `cors` layer echoes
    // any Origin with credentials: the gate answers CORS, by its own decision. Its client library is
    // served by a Fastify route.
    primus.remove('forwarded')
    primus.remove('cors')
    primus.remove('primus.js')
    primus.on('log', (level, ...details) => this.log.debug({ primus: level, details }, 'primus'))
    primus.on('connection', (spark) => {
      const handshake = gate.passed(spark.request)
      if (handshake === undefined) {
        // A transformer that hides the request it connected with: nothing vouches for this socket.
        this.log.warn({ spark: spark.id }, 'fastify-actionhero-ws: closing a connection whose handshake was not seen')
        spark.end()
        return
      }
      this.#connect(spark, handshake)
    })
    primus.on('disconnection', (spark) => this.#disconnect(spark))
    this.#primus = primus
    return gate
  }

  /**
   * Shutdown: refuse new actions, let pending ones finish (up to `shutdownTimeout`), then end every
   * connection, in batches (`drain`) that tell clients to reconnect elsewhere, or all at once telling
   * them to stay away when `destroyClientsOnShutdown`, and release Primus
   * without closing the HTTP server, which is Fastify's. Sockets that do not close, and the rooms
   * and onDisconnect hooks of the closed connections, share a second `shutdownTimeout`: close()
   * takes at most twice `shutdownTimeout`, whatever clients and hooks do.
   */
  async close (): Promise<void> {
    this.lifecycle.beginShutdown()
    const { shutdownTimeout, destroyClientsOnShutdown, drain } = this.#options
    if (!await this.lifecycle.idle(shutdownTimeout)) {
      this.log.warn('fastify-actionhero-ws: closing with actions still pending after shutdownTimeout')
    }
    const deadline = Date.now() + shutdownTimeout
    await closeConnections([...this.connections.values()], { tellClientsToStop: destroyClientsOnShutdown, timeout: shutdownTimeout, drain })
    // Closed connections leave their rooms (and run onDisconnect hooks) before the store goes.
    if (!await this.lifecycle.idle(Math.max(0, deadline - Date.now()))) {
      this.log.warn('fastify-actionhero-ws: closing with rooms or onDisconnect hooks of closed connections still running')
    }
    const primus = this.#primus
    this.#transport.close()
    if (primus !== null) await new Promise<void>((resolve) => primus.destroy({ close: false }, () => resolve()))
    await this.rooms.close()
    await this.pushes.close()
    await this.#cluster?.close()
    await this.#redis?.close()
    this.credentials.close()
    this.metrics.close()
  }

  #connect (spark: Spark, handshake: Handshake): void {
    // A client that reconnects while this server shuts down (long-polling transformers are back at
    // once) must go on to the next server: Primus would tell one still here at the end not to reconnect.
    if (this.lifecycle.closing) return spark.end(undefined, { reconnect: true })
    const wire = this.#transport.wire(spark)
    if (wire === undefined) {
      this.log.warn({ spark: spark.id }, 'fastify-actionhero-ws: closing a connection its transformer made without the plugin')
      return spark.end()
    }
    const connection = new Connection(spark, wire, handshake)
    this.connections.set(connection.id, connection)
    this.metrics.handshakeAccepted()
    this.pushes.connected(connection)
    this.#cluster?.connected(connection)
    this.#transport.attach(spark, connection)
    this.credentials.watch(connection)
    if (this.#hooks.onConnect.length > 0) this.#onConnect(connection)
  }

  /** Runs the onConnect hooks, tracked (close() waits for them) and remembered until done, for #depart to wait on. */
  #onConnect (connection: Connection): void {
    const running = this.lifecycle.track(this.#runHooks('onConnect', connection))
      .finally(() => this.#connecting.delete(connection))
    this.#connecting.set(connection, running)
  }

  #disconnect (spark: Spark): void {
    const connection = this.connections.get(spark.id)
    if (connection === undefined) return
    this.connections.delete(connection.id)
    this.credentials.forget(connection)
    this.pushes.disconnected(connection)
    this.#cluster?.disconnected(connection)
    if (connection.rooms.length === 0 && !this.rooms.changing(connection) && this.#hooks.onDisconnect.length === 0) return
    this.lifecycle.track(this.#depart(connection)).catch((error: unknown) =>
      this.log.error({ err: error, connection: connection.id }, 'fastify-actionhero-ws: cleaning up a connection failed'))
  }

  /**
   * A closed connection leaves its rooms (after the changes it had in flight), then, once its onConnect
   * hooks have finished (or failed), the onDisconnect hooks run, once.
   */
  async #depart (connection: Connection): Promise<void> {
    await this.rooms.leaveAll(connection)
    await this.#connecting.get(connection)
    await this.#runHooks('onDisconnect', connection)
  }

  /** Hooks run in the order they were added; one that fails is logged and does not stop the others. */
  async #runHooks (name: ConnectionHookName, connection: Connection): Promise<void> {
    for (const hook of this.#hooks[name]) {
      try {
        await hook(connection)
      } catch (error) {
        this.log.error({ err: error, connection: connection.id }, `fastify-actionhero-ws: an ${name} hook failed`)
      }
    }
  }
}
