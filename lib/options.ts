/**
 * The one place that reads the plugin's options: defaults, validation (a bad option fails `register`
 * with FST_AHWS_INVALID_OPTION naming it) and normalisation into `ResolvedOptions`.
 */
import { createRequire } from 'node:module'
import { isAbsolute, normalize, resolve } from 'node:path'
import { serialize } from 'cookie'
import type { ActionDefinition } from './actions.js'
import type { RedisNodeOptions } from './cluster/redis-node.js'
import type { Refresh } from './credentials.js'
import type { Authorize } from './gate.js'
import { DEFAULT_HISTORY, type HistoryOptions } from './rooms/history.js'
import { DEFAULT_SAY_LIMIT, type SayLimit } from './rooms/say-budget.js'
import type { MemberDetails } from './rooms/member-details.js'
import type { PresenceOptions } from './rooms/presence.js'
import type { PrimusClientOptions } from '../types/primus.js'
import { InvalidOptionError } from './errors.js'
import { ISSUED_LENGTH } from './fingerprint.js'

/** Options passed to Primus unchanged (see Primus's README); the plugin sets safer defaults. */
export interface PrimusServerOptions {
  pathname?: string
  transformer?: string
  parser?: string
  maxLength?: number
  pingInterval?: number | false
  compression?: boolean
  transport?: Record<string, unknown>
  [option: string]: unknown
}

/** Attributes of the fingerprint cookie (see the `cookie` package). */
export interface FingerprintCookieOptions {
  domain?: string
  path?: string
  /** In seconds. */
  maxAge?: number
  expires?: Date
  httpOnly?: boolean
  /** `'auto'`: on HTTPS requests only. */
  secure?: boolean | 'auto'
  sameSite?: boolean | 'lax' | 'strict' | 'none'
  priority?: 'low' | 'medium' | 'high'
  partitioned?: boolean
}

export interface FingerprintOptions {
  /** The cookie that holds the fingerprint. Default `sessionID`. */
  cookieKey?: string
  /** Set the cookie on HTTP responses to requests that had none. Default `true`. */
  setCookie?: boolean
  /** Attributes of the cookie, merged over `{ httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto' }`. */
  cookie?: FingerprintCookieOptions
  /** The longest cookie value taken as a fingerprint; a longer one counts as none. Default 256. */
  maxLength?: number
  /**
   * Signs the fingerprints the plugin issues and takes no other: a string of at least 32 characters,
   * or an array of them to rotate secrets (the first signs, every one verifies).
   */
  secret?: string | string[]
}

/**
 * What the plugin needs of a Redis client the app passes in: an ioredis 5 or 6 `Redis` (a Sentinel
 * one too) or an ioredis `Cluster`. Typed by shape so that either major version type-checks; the
 * plugin calls it through the commands the two share.
 */
export interface RedisClientLike {
  readonly status: string
  duplicate (...args: never[]): unknown
  on (event: string, listener: (...args: unknown[]) => void): unknown
  removeListener (event: string, listener: (...args: unknown[]) => void): unknown
}

/** A Redis server or cluster node to connect to. */
export interface RedisAddress {
  host: string
  port: number
}

/** Several app servers sharing rooms and reaching each other's connections through Redis. */
export interface RedisOptions {
  /** Default `redis://127.0.0.1:6379` when neither `client` nor `cluster` is given. */
  url?: string
  /**
   * An ioredis client of the app's (ioredis 5 or 6; a Sentinel one, or a `Cluster` for Redis Cluster):
   * duplicated for subscribing; the plugin does not close it.
   */
  client?: RedisClientLike
  /** The startup nodes of a Redis Cluster: the plugin connects to it, with room traffic on sharded pub/sub. */
  cluster?: RedisAddress[]
  /** Prefix of every key and channel, so that several apps can share a Redis. Default `ahws:`. */
  prefix?: string
  /** How often a node tells the others it is alive, in ms. Default 2000. */
  heartbeatInterval?: number
  /** How long a silent node has before its members are removed from every room, in ms. Default 10000. */
  nodeTimeout?: number
  /**
   * How long a connection's request waits for Redis (a join and its subscription, a leave, a say, a
   * room view, a destroy) or for another node (a membership change), in ms, before it fails; also how
   * long a node waits for pub/sub to bring a message it is missing before it reads the history. Default 5000.
   */
  requestTimeout?: number
}

export type { PrimusClientOptions }

/**
 * What the plugin needs of a prom-client `Registry` the app passes in: typed by shape, so that the
 * package's types do not need prom-client installed.
 */
export interface MetricsRegistry {
  registerMetric (metric: never): void
  getSingleMetric (name: string): unknown
  removeSingleMetric (name: string): void
  metrics (): Promise<string>
}

/** Prometheus metrics through prom-client (docs/OPERATING.md, "Metrics"). */
export interface MetricsOptions {
  /** The prom-client registry to register in; default prom-client's default registry (`register`). */
  registry?: MetricsRegistry
  /** Before every metric's name; default `actionhero_ws_`. */
  prefix?: string
}

/** @internal */
export interface ResolvedMetricsOptions {
  registry: MetricsRegistry | null
  prefix: string
}

export interface ActionheroWsOptions {
  enabled?: boolean
  /** Moves every path the plugin serves (socket, API, public files), as `register`'s `prefix` does for other plugins. */
  prefix?: string
  clientUrl?: string
  publicDir?: string
  /** Where the browser client is written at boot; default: a temporary folder of the plugin's own, removed at close. */
  clientDir?: string
  publicPrefix?: string | false
  clientJsPath?: string
  clientJsName?: string | null
  destroyClientsOnShutdown?: boolean
  welcomeMessage?: string | false
  rooms?: string[]
  echoSay?: boolean
  /**
   * Each room's last messages, for clients that reconnect (`roomAdd` with `since`) or join late
   * (`roomHistory`), and each visitor's last `sendToFingerprint` pushes, for a page that reconnects:
   * per room (and per fingerprint) at most `size` messages (default 100) and `maxBytes` bytes (default
   * 1 MiB), none older than `ttl` ms (default 120000); a message over `server.maxLength` is delivered
   * but not kept. `false`: no history, and room messages and pushes carry no position.
   */
  history?: Partial<HistoryOptions> | false
  /**
   * What one connection may `say` per second: `messages` (default 20) and `bytes` (default 1 MiB, the
   * messages' JSON), with a burst of one second's worth; a say over it is refused. `false`: no limit.
   */
  sayLimit?: Partial<SayLimit> | false
  /** What a member shows in `roomView` besides `id` and `joinedAt`: made when it joins, stored with the membership. */
  memberDetails?: MemberDetails
  /**
   * Who is here, pushed as it changes (docs/ROOMS.md, Presence): `true` for every room, or `{ rooms, key }`:
   * the presence rooms (a list, or a test), and the person a connection is (default its fingerprint).
   * Default `false`: no room has presence.
   */
  presence?: boolean | PresenceOptions
  /** Pending actions a connection may have (ActionHero's option); within `maxPendingRequests`. */
  simultaneousActions?: number
  /** Requests of every event a connection may have pending at once; more are answered `you have too many pending requests`. */
  maxPendingRequests?: number
  actions?: ActionDefinition[]
  apiPath?: string | false
  /**
   * The HTTP methods the API takes. Default `['POST']` (with a JSON body): `['GET', 'POST']` opts GET in,
   * params from the query string; then only safe, idempotent actions should be reachable by GET.
   */
  apiMethods?: ApiMethod[]
  fingerprint?: FingerprintOptions
  /** Origins allowed to open a socket and call the HTTP API besides the app's own; `'*'` for any. */
  allowedOrigins?: '*' | string | string[]
  /**
   * Runs on every handshake and every HTTP API call, after the origin check: throw to refuse. What it
   * returns is `connection.auth`; an object with `expiresAt` (ms since the epoch) makes a socket's
   * credentials expire then, unless `refresh` renews them.
   */
  authorize?: Authorize
  /**
   * Takes the fresh credentials a client sends (the `refresh` verb) and returns the connection's new
   * auth, with its `expiresAt`; throw to refuse: the connection is closed with the reason.
   */
  refresh?: Refresh
  /** How long a socket whose credentials expired stays open without a refresh, in ms. Default 10000. */
  refreshGrace?: number
  maxBufferedBytes?: number
  /** The largest file the `file` event sends, in bytes (it travels as one message); larger ones get `That file is too large`. */
  maxFileBytes?: number
  /** Files the `file` event reads at once, for all connections together; more wait their turn. */
  maxConcurrentFileReads?: number
  /** How long `close()` waits for pending actions, then for sockets to close, in ms. */
  shutdownTimeout?: number
  /** Prometheus metrics (prom-client, an optional peer): `true`, or where and how to register them; default `false`. */
  metrics?: boolean | MetricsOptions
  /**
   * How `close()` ends the connections: `batchSize` (default 400) every `intervalMs` (default 50 ms),
   * each told to reconnect, so that the other nodes are not hit by every client at once; whatever is
   * left at half of `shutdownTimeout` ends together. `false`: every connection at once.
   */
  drain?: Partial<DrainOptions> | false
  redis?: RedisOptions
  server?: PrimusServerOptions
  client?: PrimusClientOptions
}

/** @internal */
export interface ResolvedOptions {
  enabled: boolean
  /** The `prefix` option, '' when none; the context's own prefix comes on top. */
  prefix: string
  clientUrl: string
  publicDir: string
  /** null: a temporary folder. */
  clientDir: string | null
  publicPrefix: string | false
  clientJsPath: string
  clientJsName: string | null
  destroyClientsOnShutdown: boolean
  welcomeMessage: string | false
  rooms: string[]
  echoSay: boolean
  history: HistoryOptions | false
  sayLimit: SayLimit | false
  memberDetails: MemberDetails | null
  /** null: no presence room. */
  presence: PresenceOptions | null
  simultaneousActions: number
  maxPendingRequests: number
  actions: ActionDefinition[]
  apiPath: string | false
  apiMethods: readonly ApiMethod[]
  fingerprint: { cookieKey: string, setCookie: boolean, cookie: FingerprintCookieOptions, maxLength: number, secrets: string[] }
  /** `'*'`, or the normalised origins allowed besides the app's own. */
  allowedOrigins: '*' | ReadonlySet<string>
  authorize: Authorize | null
  refresh: Refresh | null
  refreshGrace: number
  maxBufferedBytes: number
  maxFileBytes: number
  maxConcurrentFileReads: number
  shutdownTimeout: number
  /** null: no metrics. */
  metrics: ResolvedMetricsOptions | null
  drain: DrainOptions | false
  redis: RedisNodeOptions | null
  server: PrimusServerOptions & { pathname: string, maxLength: number }
  client: PrimusClientOptions
}

export const MAX_ROOM_NAME_LENGTH = 256

/** How shutdown ends connections in batches (lib/shutdown.ts). */
export interface DrainOptions {
  /** Connections ended together. */
  batchSize: number
  /** ms between two batches. */
  intervalMs: number
}

/** 20,000 connections end in 50 batches, 2.45 s: within half of the default `shutdownTimeout`. */
export const DEFAULT_DRAIN: DrainOptions = { batchSize: 400, intervalMs: 50 }

/** The HTTP methods `apiMethods` may list. */
export type ApiMethod = 'GET' | 'POST'
const API_METHODS: readonly ApiMethod[] = ['GET', 'POST']

/**
 * Primus options the plugin answers for itself: Primus's `authorization` hook is the gate's, and its
 * CORS layer (`origins`, `credentials`) is removed, the gate answering CORS by `allowedOrigins`.
 */
const GATE_OPTIONS: Readonly<Record<string, string>> = {
  authorization: 'is not supported: use the "authorize" option, which gets the Fastify request of every handshake and HTTP API call (throw to refuse)',
  origins: 'is not supported: use the "allowedOrigins" option, which the socket and the HTTP API share',
  credentials: 'is not supported: the origins "allowedOrigins" lets in get credentials, the others are refused'
}

/**
 * Primus 8's transformers and the package each needs on the server (the page's client library ships
 * with Primus). `uws` is not here: its authors replaced the package with an empty one, and its last
 * release ships binaries for Node.js 8 to 10 only.
 */
const TRANSFORMER_PACKAGES: Readonly<Record<string, string>> = {
  websockets: 'ws',
  'engine.io': 'engine.io',
  sockjs: 'sockjs',
  faye: 'faye-websocket',
  browserchannel: 'browserchannel'
}

export const DEFAULT_SERVER_OPTIONS = { pathname: '/primus', transformer: 'websockets', parser: 'JSON', maxLength: 1024 * 1024 }
const DEFAULT_COOKIE: FingerprintCookieOptions = { httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto' }

/** What `fastify.register` adds to every plugin's options; not ours to check. */
const REGISTER_OPTIONS = new Set(['logLevel', 'logSerializers'])

const KNOWN_OPTIONS = new Set<string>([
  'enabled', 'clientUrl', 'publicDir', 'publicPrefix', 'clientJsPath', 'clientJsName', 'destroyClientsOnShutdown',
  'welcomeMessage', 'rooms', 'echoSay', 'history', 'sayLimit', 'memberDetails', 'presence', 'simultaneousActions', 'maxPendingRequests', 'actions', 'apiPath', 'apiMethods', 'fingerprint',
  'allowedOrigins', 'authorize', 'maxBufferedBytes', 'maxFileBytes', 'maxConcurrentFileReads', 'shutdownTimeout', 'drain', 'redis', 'server', 'client',
  'prefix', 'clientDir', 'metrics',
  'refresh', 'refreshGrace'
])

// RFC 6265 cookie-name: an HTTP token.
const COOKIE_ATTRIBUTES = new Set(['domain', 'path', 'maxAge', 'expires', 'httpOnly', 'secure', 'sameSite', 'priority', 'partitioned'])

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

type Check<T> = (value: unknown) => value is T

const isBoolean: Check<boolean> = (value): value is boolean => typeof value === 'boolean'
const isString: Check<string> = (value): value is string => typeof value === 'string'
const isNonEmptyString: Check<string> = (value): value is string => typeof value === 'string' && value.length > 0
const isPositiveInteger: Check<number> = (value): value is number => Number.isSafeInteger(value) && (value as number) > 0
const isNonNegativeInteger: Check<number> = (value): value is number => Number.isSafeInteger(value) && (value as number) >= 0

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function isRoomName (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ROOM_NAME_LENGTH
}

/**
 * Reads one option: the default when it is absent, the value when `check` accepts it, a coded error
 * otherwise, naming the option by its `path` (e.g. `redis.url`).
 */
function read<T> (options: Record<string, unknown>, name: string, fallback: T, check: Check<T>, expected: string, path = name): T {
  const value = options[name]
  if (value === undefined) return fallback
  if (!check(value)) throw new InvalidOptionError(path, `must be ${expected}`)
  return value
}

function readObject (options: Record<string, unknown>, name: string): Record<string, unknown> {
  return read(options, name, {}, isPlainObject, 'an object')
}

function readPath (value: string, name: string, { trailingSlash }: { trailingSlash: boolean }): string {
  if (!value.startsWith('/')) throw new InvalidOptionError(name, 'must start with "/"')
  if (trailingSlash) return value.endsWith('/') ? value : `${value}/`
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value
}

function readAllowedOrigins (value: unknown): '*' | ReadonlySet<string> {
  if (value === undefined) return new Set()
  if (value === '*') return '*'
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list)) throw new InvalidOptionError('allowedOrigins', 'must be "*", an origin or an array of origins')
  const origins = new Set<string>()
  for (const entry of list) {
    const origin = typeof entry === 'string' ? parseOrigin(entry) : null
    if (origin === null) {
      throw new InvalidOptionError('allowedOrigins', `must list origins such as "https://example.com"; got ${JSON.stringify(entry)}`)
    }
    origins.add(origin)
  }
  return origins
}

function readApiMethods (value: unknown): readonly ApiMethod[] {
  if (value === undefined) return ['POST']
  const methods = Array.isArray(value) ? value.map((method) => typeof method === 'string' ? method.toUpperCase() : method) : []
  if (methods.length === 0 || !methods.every((method): method is ApiMethod => API_METHODS.includes(method as ApiMethod))) {
    throw new InvalidOptionError('apiMethods', `must be a non-empty array of ${API_METHODS.map((method) => `"${method}"`).join(', ')}; got ${JSON.stringify(value)}`)
  }
  return API_METHODS.filter((method) => methods.includes(method))
}

/** `scheme://host[:port]` in lower case, or null when `value` is not an origin. */
export function parseOrigin (value: string): string | null {
  try {
    const url = new URL(value)
    return url.origin === 'null' ? null : url.origin
  } catch {
    return null
  }
}

function readFingerprint (options: Record<string, unknown>): ResolvedOptions['fingerprint'] {
  const fingerprint = readObject(options, 'fingerprint')
  for (const key of Object.keys(fingerprint)) {
    if (!['cookieKey', 'setCookie', 'cookie', 'maxLength', 'secret'].includes(key)) throw new InvalidOptionError(`fingerprint.${key}`, 'is not a known option')
  }
  const cookieKey = fingerprint.cookieKey ?? 'sessionID'
  if (typeof cookieKey !== 'string' || !COOKIE_NAME.test(cookieKey)) {
    throw new InvalidOptionError('fingerprint.cookieKey', 'must be a cookie name (letters, digits and !#$%&\'*+-.^_`|~)')
  }
  const setCookie = fingerprint.setCookie ?? true
  if (!isBoolean(setCookie)) throw new InvalidOptionError('fingerprint.setCookie', 'must be a boolean')
  const cookie = fingerprint.cookie ?? {}
  if (!isPlainObject(cookie)) throw new InvalidOptionError('fingerprint.cookie', 'must be an object of cookie attributes')
  for (const key of Object.keys(cookie)) {
    if (!COOKIE_ATTRIBUTES.has(key)) throw new InvalidOptionError(`fingerprint.cookie.${key}`, `is not a cookie attribute (${[...COOKIE_ATTRIBUTES].join(', ')})`)
  }
  const attributes: FingerprintCookieOptions = { ...DEFAULT_COOKIE, ...cookie }
  if (!isBoolean(attributes.secure) && attributes.secure !== 'auto') throw new InvalidOptionError('fingerprint.cookie.secure', 'must be a boolean or "auto"')
  // Serialised once now, so that an attribute the cookie package refuses fails register, not every request.
  try {
    serialize(cookieKey, 'x', { ...attributes, secure: attributes.secure === true })
  } catch (error) {
    throw new InvalidOptionError('fingerprint.cookie', `is refused: ${(error as Error).message}`)
  }
  const secrets = readSecrets(fingerprint.secret)
  // Below what the plugin issues, every fingerprint it set would be refused and issued again.
  const shortest = secrets.length === 0 ? ISSUED_LENGTH.unsigned : ISSUED_LENGTH.signed
  const maxLength = read(fingerprint, 'maxLength', 256, (v): v is number => isPositiveInteger(v) && v >= shortest,
    `an integer of at least ${shortest} (the length of the fingerprints the plugin issues${secrets.length === 0 ? '' : ' signed'})`, 'fingerprint.maxLength')
  return { cookieKey, setCookie, cookie: attributes, maxLength, secrets }
}

const MIN_SECRET_LENGTH = 32

function readSecrets (secret: unknown): string[] {
  if (secret === undefined) return []
  const secrets = typeof secret === 'string' ? [secret] : secret
  if (!Array.isArray(secrets) || secrets.length === 0 ||
      !secrets.every((entry) => typeof entry === 'string' && entry.length >= MIN_SECRET_LENGTH)) {
    throw new InvalidOptionError('fingerprint.secret', `must be a string of at least ${MIN_SECRET_LENGTH} characters, or a non-empty array of them (the first signs, every one verifies)`)
  }
  return [...secrets] as string[]
}

function readServer (options: Record<string, unknown>): ResolvedOptions['server'] {
  const given = readObject(options, 'server')
  for (const [name, problem] of Object.entries(GATE_OPTIONS)) {
    if (given[name] !== undefined) throw new InvalidOptionError(`server.${name}`, problem)
  }
  const server = { ...DEFAULT_SERVER_OPTIONS, ...given }
  if (!isNonEmptyString(server.pathname) || !server.pathname.startsWith('/')) {
    throw new InvalidOptionError('server.pathname', 'must be a path starting with "/"')
  }
  if (!isPositiveInteger(server.maxLength)) throw new InvalidOptionError('server.maxLength', 'must be a positive integer (bytes)')
  checkTransformer(server.transformer)
  checkTransport((server as PrimusServerOptions).transport)
  return server
}

/**
 * `server.transport` options that would lift a bound the plugin promises on every transformer: the
 * message size is `server.maxLength` alone (Primus hands it to each transformer under its own name).
 */
const BOUND_TRANSPORT_OPTIONS: Readonly<Record<string, string>> = {
  maxPayload: 'ws and engine.io\'s WebSocket',
  maxHttpBufferSize: 'engine.io',
  maxLength: 'faye',
  faye_server_options: 'sockjs\'s WebSocket'
}

function checkTransport (transport: unknown): void {
  if (transport === undefined) return
  if (!isPlainObject(transport)) throw new InvalidOptionError('server.transport', 'must be an object')
  for (const key of Object.keys(transport)) {
    const bound = BOUND_TRANSPORT_OPTIONS[key]
    if (bound !== undefined) throw new InvalidOptionError(`server.transport.${key}`, `would change the message bound of ${bound}: set server.maxLength instead`)
  }
}

/** A transformer by name must be one of Primus 8's that works here, with its package installed; Primus checks a custom one. */
function checkTransformer (transformer: unknown): void {
  if (typeof transformer === 'function') return
  if (typeof transformer !== 'string') throw new InvalidOptionError('server.transformer', 'must be a transformer name or a Primus transformer')
  const name = transformer.toLowerCase()
  if (name === 'uws') {
    throw new InvalidOptionError('server.transformer', 'uws is not supported: its authors replaced the uws package with an empty one (uws@200), and its last release (10.148.1) ships binaries for Node.js 8 to 10 only; use "websockets" (ws)')
  }
  const dependency = TRANSFORMER_PACKAGES[name]
  if (dependency === undefined) {
    throw new InvalidOptionError('server.transformer', `must be one of ${Object.keys(TRANSFORMER_PACKAGES).map((known) => `"${known}"`).join(', ')}; got ${JSON.stringify(transformer)}`)
  }
  // Primus loads it from its own folder: look there.
  const fromPrimus = createRequire(createRequire(import.meta.url).resolve('primus'))
  try {
    fromPrimus.resolve(dependency)
  } catch {
    throw new InvalidOptionError('server.transformer', `"${transformer}" needs the package "${dependency}": npm install ${dependency}`)
  }
}

function readRedis (options: Record<string, unknown>): ResolvedOptions['redis'] {
  if (options.redis === undefined) return null
  const redis = readObject(options, 'redis')
  for (const key of Object.keys(redis)) {
    if (!['url', 'client', 'cluster', 'prefix', 'heartbeatInterval', 'nodeTimeout', 'requestTimeout'].includes(key)) {
      throw new InvalidOptionError(`redis.${key}`, 'is not a known option')
    }
  }
  if ([redis.url, redis.client, redis.cluster].filter((given) => given !== undefined).length > 1) {
    throw new InvalidOptionError('redis', 'takes one of url, client or cluster')
  }
  const url = read(redis, 'url', 'redis://127.0.0.1:6379', isNonEmptyString, 'a redis:// URL', 'redis.url')
  const client = read<RedisClientLike | null>(redis, 'client', null,
    (v): v is RedisClientLike => typeof v === 'object' && v !== null && typeof (v as { duplicate?: unknown }).duplicate === 'function',
    'an ioredis client', 'redis.client')
  const cluster = read<RedisAddress[] | null>(redis, 'cluster', null, isAddressList, 'a non-empty array of { host, port }', 'redis.cluster')
  const heartbeatInterval = read(redis, 'heartbeatInterval', 2000, isPositiveInteger, 'a positive integer (ms)', 'redis.heartbeatInterval')
  const nodeTimeout = read(redis, 'nodeTimeout', 10000, isPositiveInteger, 'a positive integer (ms)', 'redis.nodeTimeout')
  if (nodeTimeout <= heartbeatInterval) throw new InvalidOptionError('redis.nodeTimeout', 'must be longer than redis.heartbeatInterval')
  return {
    url,
    client,
    cluster,
    prefix: read(redis, 'prefix', 'ahws:', isString, 'a string', 'redis.prefix'),
    heartbeatInterval,
    nodeTimeout,
    requestTimeout: read(redis, 'requestTimeout', 5000, isPositiveInteger, 'a positive integer (ms)', 'redis.requestTimeout')
  }
}

function isAddressList (value: unknown): value is RedisAddress[] {
  return Array.isArray(value) && value.length > 0 &&
    value.every((node) => isPlainObject(node) && isNonEmptyString(node.host) && isPositiveInteger(node.port))
}

/** Reads an option that is an object of `keys` (each read by the caller); any other key is refused. */
function readGroup (options: Record<string, unknown>, name: string, keys: readonly string[]): Record<string, unknown> {
  const group = read(options, name, {}, isPlainObject, `an object { ${keys.join(', ')} } or false`)
  for (const key of Object.keys(group)) {
    if (!keys.includes(key)) throw new InvalidOptionError(`${name}.${key}`, 'is not a known option')
  }
  return group
}

/** A Prometheus metric name's prefix: what may start a name, then what may follow (letters, digits, `_`, `:`). */
const METRIC_PREFIX = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/

function readMetrics (options: Record<string, unknown>): ResolvedMetricsOptions | null {
  const { metrics } = options
  if (metrics === undefined || metrics === false) return null
  const group = metrics === true ? {} : readGroup(options, 'metrics', ['registry', 'prefix'])
  return {
    registry: read<MetricsRegistry | null>(group, 'registry', null,
      (v): v is MetricsRegistry => typeof v === 'object' && v !== null && typeof (v as { registerMetric?: unknown }).registerMetric === 'function' &&
        typeof (v as { removeSingleMetric?: unknown }).removeSingleMetric === 'function',
      'a prom-client Registry', 'metrics.registry'),
    prefix: read(group, 'prefix', 'actionhero_ws_', (v): v is string => isString(v) && METRIC_PREFIX.test(v),
      'a Prometheus name prefix (letters, digits, "_" and ":", not starting with a digit)', 'metrics.prefix')
  }
}

/** How one number of a group is checked, and what its error says it must be. */
type NumberRule = readonly [check: Check<number>, expected: string]

/** A group of numbers (`history`, `sayLimit`, `drain`) or false: each key checked by its rule, or its default. */
function readNumbers<Group extends object> (options: Record<string, unknown>, name: string, defaults: Group, rules: Readonly<Record<keyof Group & string, NumberRule>>): Group | false {
  if (options[name] === false) return false
  const group = readGroup(options, name, Object.keys(rules))
  const resolved: Record<string, number> = {}
  for (const [key, [check, expected]] of Object.entries<NumberRule>(rules)) {
    resolved[key] = read(group, key, (defaults as Record<string, number>)[key] as number, check, expected, `${name}.${key}`)
  }
  return resolved as Group
}

function readHistory (options: Record<string, unknown>): HistoryOptions | false {
  return readNumbers(options, 'history', DEFAULT_HISTORY, {
    size: [isPositiveInteger, 'a positive integer (messages)'],
    ttl: [isPositiveInteger, 'a positive integer (ms)'],
    maxBytes: [isPositiveInteger, 'a positive integer (bytes)']
  })
}

function readRooms (options: Record<string, unknown>): string[] {
  const rooms = read(options, 'rooms', ['defaultRoom', 'anotherRoom'], Array.isArray, 'an array of room names')
  for (const room of rooms) {
    if (!isRoomName(room)) {
      throw new InvalidOptionError('rooms', `must hold non-empty strings of at most ${MAX_ROOM_NAME_LENGTH} characters; got ${JSON.stringify(room)}`)
    }
  }
  return [...new Set<string>(rooms)]
}

function readPresence (options: Record<string, unknown>): PresenceOptions | null {
  const presence = read<boolean | Record<string, unknown>>(options, 'presence', false,
    (v): v is boolean | Record<string, unknown> => isBoolean(v) || isPlainObject(v), 'true, false or { rooms?, key? }')
  if (presence === false) return null
  if (presence === true) return {}
  const unknown = Object.keys(presence).find((key) => key !== 'rooms' && key !== 'key')
  if (unknown !== undefined) throw new InvalidOptionError('presence', `has no option ${JSON.stringify(unknown)}; it takes rooms and key`)
  const { rooms, key } = presence
  if (rooms !== undefined && typeof rooms !== 'function' && !(Array.isArray(rooms) && rooms.every(isRoomName))) {
    throw new InvalidOptionError('presence', 'rooms must be an array of room names or a function (room) => boolean')
  }
  if (key !== undefined && typeof key !== 'function') throw new InvalidOptionError('presence', 'key must be a function (connection) => string')
  return { rooms: rooms as PresenceOptions['rooms'], key: key as PresenceOptions['key'] }
}

function readClient (options: Record<string, unknown>): PrimusClientOptions {
  const client = readObject(options, 'client')
  // Baked into the generated client, they would make every page's Primus throw.
  for (const removed of ['ping', 'pong']) {
    if (removed in client) throw new InvalidOptionError(`client.${removed}`, 'was removed in Primus 8; use client.pingTimeout')
  }
  return client
}

function readRelativeFolder (options: Record<string, unknown>, name: string, fallback: string): string {
  const value = read(options, name, fallback, isString, 'a string')
  const folder = normalize(value === '' ? '.' : value)
  if (isAbsolute(folder) || folder === '..' || folder.startsWith('../')) {
    throw new InvalidOptionError(name, 'must be a folder inside publicDir')
  }
  // The public folder serves no dotfile: a client written under a dot folder could not be loaded.
  if (folder !== '.' && folder.split(/[/\\]/).some((part) => part.startsWith('.'))) {
    throw new InvalidOptionError(name, 'must not name a folder starting with "." (the public folder serves no dotfile)')
  }
  return folder
}

/** @internal */
export function resolveOptions (input: unknown, cwd = process.cwd()): ResolvedOptions {
  if (input !== undefined && !isPlainObject(input)) throw new InvalidOptionError('options', 'must be an object')
  const options = input ?? {}
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key) && !REGISTER_OPTIONS.has(key)) throw new InvalidOptionError(key, 'is not a known option')
  }

  const publicPrefix = read<string | false>(options, 'publicPrefix', '/public/',
    (v): v is string | false => v === false || isString(v), 'a URL path or false')
  const apiPath = read<string | false>(options, 'apiPath', '/api',
    (v): v is string | false => v === false || isString(v), 'a URL path or false')
  const prefix = readPath(read(options, 'prefix', '/', isString, 'a URL path'), 'prefix', { trailingSlash: false })
  const clientJsName = read<string | null>(options, 'clientJsName', 'actionheroClient',
    (v): v is string | null => v === null || (isNonEmptyString(v) && !/[/\\]/.test(v)), 'a file name without extension or slashes, or null')

  return {
    enabled: read(options, 'enabled', true, isBoolean, 'a boolean'),
    prefix: prefix === '/' ? '' : prefix,
    clientUrl: read(options, 'clientUrl', 'window.location.origin', isNonEmptyString, 'a non-empty string'),
    publicDir: resolve(cwd, read(options, 'publicDir', 'public', isNonEmptyString, 'a folder path')),
    clientDir: options.clientDir === undefined ? null : resolve(cwd, read(options, 'clientDir', '', isNonEmptyString, 'a folder path')),
    publicPrefix: publicPrefix === false ? false : readPath(publicPrefix, 'publicPrefix', { trailingSlash: true }),
    clientJsPath: readRelativeFolder(options, 'clientJsPath', 'javascript/'),
    clientJsName,
    destroyClientsOnShutdown: read(options, 'destroyClientsOnShutdown', false, isBoolean, 'a boolean'),
    welcomeMessage: read<string | false>(options, 'welcomeMessage', 'Hello! Welcome to the actionhero api',
      (v): v is string | false => v === false || isString(v), 'a string or false'),
    rooms: readRooms(options),
    echoSay: read(options, 'echoSay', false, isBoolean, 'a boolean'),
    history: readHistory(options),
    sayLimit: readNumbers(options, 'sayLimit', DEFAULT_SAY_LIMIT, {
      messages: [isPositiveInteger, 'a positive integer (messages a second)'],
      bytes: [isPositiveInteger, 'a positive integer (bytes a second)']
    }),
    memberDetails: read<MemberDetails | null>(options, 'memberDetails', null,
      (v): v is MemberDetails => typeof v === 'function', 'a function (connection) => object'),
    presence: readPresence(options),
    simultaneousActions: read(options, 'simultaneousActions', 5, isPositiveInteger, 'a positive integer'),
    maxPendingRequests: read(options, 'maxPendingRequests', 1000, isPositiveInteger, 'a positive integer'),
    actions: read(options, 'actions', [], Array.isArray, 'an array of action definitions'),
    apiPath: apiPath === false ? false : readPath(apiPath, 'apiPath', { trailingSlash: false }),
    apiMethods: readApiMethods(options.apiMethods),
    fingerprint: readFingerprint(options),
    allowedOrigins: readAllowedOrigins(options.allowedOrigins),
    authorize: read<Authorize | null>(options, 'authorize', null, (v): v is Authorize => typeof v === 'function', 'a function (request) => void'),
    refresh: read<Refresh | null>(options, 'refresh', null, (v): v is Refresh => typeof v === 'function', 'a function (connection, params) => auth'),
    refreshGrace: read(options, 'refreshGrace', 10_000, isNonNegativeInteger, 'a non-negative integer (ms)'),
    maxBufferedBytes: read(options, 'maxBufferedBytes', 16 * 1024 * 1024, isPositiveInteger, 'a positive integer (bytes)'),
    maxFileBytes: read(options, 'maxFileBytes', 1024 * 1024, isPositiveInteger, 'a positive integer (bytes)'),
    maxConcurrentFileReads: read(options, 'maxConcurrentFileReads', 16, isPositiveInteger, 'a positive integer'),
    shutdownTimeout: read(options, 'shutdownTimeout', 5000, isNonNegativeInteger, 'a non-negative integer (ms)'),
    metrics: readMetrics(options),
    drain: readNumbers(options, 'drain', DEFAULT_DRAIN, {
      batchSize: [isPositiveInteger, 'a positive integer (connections)'],
      intervalMs: [isNonNegativeInteger, 'a non-negative integer (ms)']
    }),
    redis: readRedis(options),
    server: readServer(options),
    client: readClient(options)
  }
}

/** What an emitter (lib/emitter.ts) is given: the options of the cluster's nodes that it must share with them. */
export interface EmitterOptions {
  /** As the nodes': where Redis is (or a client of the app's), and the cluster's `prefix`. */
  redis: RedisOptions
  /** As the nodes': the room (and push) history the emitter's messages are kept in. */
  history?: Partial<HistoryOptions> | false
  /** As the nodes': only `maxLength` matters, the largest message a history keeps. */
  server?: Pick<PrimusServerOptions, 'maxLength'>
}

/** @internal */
export interface ResolvedEmitterOptions {
  redis: RedisNodeOptions
  history: HistoryOptions | false
  largest: number
}

/** Reads an emitter's options, by the rules of the plugin's own. @internal */
export function resolveEmitterOptions (input: unknown): ResolvedEmitterOptions {
  if (!isPlainObject(input)) throw new InvalidOptionError('options', 'must be an object')
  for (const key of Object.keys(input)) {
    if (key !== 'redis' && key !== 'history' && key !== 'server') throw new InvalidOptionError(key, 'is not an option of an emitter')
  }
  const redis = readRedis(input)
  if (redis === null) throw new InvalidOptionError('redis', 'is required: an emitter reaches the cluster through Redis')
  const largest = read(readObject(input, 'server'), 'maxLength', DEFAULT_SERVER_OPTIONS.maxLength, isPositiveInteger, 'a positive integer (bytes)', 'server.maxLength')
  return { redis, history: readHistory(input), largest }
}
