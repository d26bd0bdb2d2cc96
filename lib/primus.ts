/**
 * Primus, typed for what this plugin uses of it (Primus ships no types), on an HTTP server of its own
 * that never listens: the plugin hands it, from Fastify routes, the requests and upgrades of its
 * pathname (socket-route.ts), so that Fastify's hooks see every one of them first.
 */
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { PrimusSocketConstructor } from '../types/primus.js'

export type { PrimusSocket, PrimusSocketConstructor } from '../types/primus.js'

/** The server side of one Primus connection. */
export interface Spark {
  readonly id: string
  readonly readyState: number
  readonly request: IncomingMessage
  readonly query: Record<string, string | string[]>
  /** The transformer's socket: a `ws` WebSocket, an engine.io socket, a sockjs connection... */
  readonly socket: { bufferedAmount?: unknown, terminate?: () => void } | null
  /** False from a ping until its pong: a spark still not alive at the next ping is ended. */
  alive: boolean
  /** Sends this spark's ping; Primus's server calls it every `pingInterval`. Writable, for custom policies. */
  heartbeat: (this: Spark) => void
  write (data: unknown): boolean
  end (data?: unknown, options?: { reconnect?: boolean }): void
  /** A transformer emits `incoming::data`, `incoming::error`, `incoming::end`, `incoming::pong`; the heartbeat `heartbeat`. */
  emit (event: string, ...args: unknown[]): boolean
  on (event: 'data', listener: (this: Spark, data: unknown) => void): this
  on (event: 'error', listener: (this: Spark, error: Error) => void): this
  on (event: 'end', listener: () => void): this
  on (event: 'outgoing::data', listener: (this: Spark, data: never) => void): this
  on (event: 'outgoing::end', listener: () => void): this
  prependListener (event: 'incoming::data', listener: (this: Spark, data: unknown) => void): this
  removeListener (event: string, listener: (...args: never[]) => void): this
  listenerCount (event: string): number
}

/** What a transformer's server function (`this`) has: Primus, its Spark constructor, and the HTTP server's events. */
export interface TransformerContext {
  readonly primus: PrimusServer
  readonly Spark: PrimusServer['Spark']
  on (event: 'upgrade', listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): this
  on (event: 'request', listener: (request: IncomingMessage, response: ServerResponse) => void): this
  once (event: 'close', listener: () => void): this
}

/** A transformer made with `Primus.Transformer.extend`, given to Primus as its `transformer` option. */
export type TransformerConstructor = abstract new (primus: PrimusServer) => object

export interface PrimusServer {
  readonly options: Record<string, unknown>
  readonly pathname: string
  readonly connected: number
  readonly transformers: { incoming: unknown[], outgoing: unknown[] }
  readonly Socket: PrimusSocketConstructor
  /** This server's Spark constructor; assigning `prototype.initialise` adds an initialiser that runs as each spark is created. */
  readonly Spark: {
    new (headers: IncomingMessage['headers'], address: unknown, query: string, id: string | null, request: IncomingMessage, socket: unknown): Spark
    readonly prototype: { initialise: (this: Spark) => void }
  }
  /** The detached server Primus listens on; null once Primus is destroyed. */
  readonly server: PrimusHttpServer | null
  library (nodejs?: boolean): string
  spark (id: string): Spark | undefined
  forEach (fn: (spark: Spark) => void): this
  destroy (options: { close?: boolean, reconnect?: boolean, timeout?: number }, done?: (error?: Error) => void): this
  on (event: 'connection' | 'disconnection', listener: (spark: Spark) => void): this
  on (event: 'log', listener: (level: string, ...details: unknown[]) => void): this
  on (event: string, listener: (...args: never[]) => void): this
  removeListener (event: string, listener: (...args: never[]) => void): this
  plugin (name: string, plugin: object): this
  /** Removes a middleware layer by name. */
  remove (name: string): this
  transform (type: 'incoming' | 'outgoing', fn: (...args: never[]) => unknown): this
}

/** What Primus's transformers listen to on their HTTP server. */
export interface PrimusHttpServer extends EventEmitter {
  emit (event: 'request', request: IncomingMessage, response: ServerResponse): boolean
  emit (event: 'upgrade', request: IncomingMessage, socket: Duplex, head: Buffer): boolean
}

interface PrimusModule {
  new (server: EventEmitter, options: Record<string, unknown>): PrimusServer
  createSocket (options: Record<string, unknown>): PrimusSocketConstructor
  readonly Transformer: { extend (definition: { server: (this: TransformerContext) => void, client: unknown }): TransformerConstructor }
  readonly Spark: { readonly CLOSED: number, readonly OPEN: number, readonly prototype: { heartbeat: (this: Spark) => void } }
}

const Primus = createRequire(import.meta.url)('primus') as PrimusModule

export const SPARK_CLOSED = Primus.Spark.CLOSED
/** Primus's own `spark.heartbeat`, which the direct path replaces (transport/websockets.ts) and falls back to. */
export const primusHeartbeat = Primus.Spark.prototype.heartbeat
/** Primus's transformer base: `PrimusTransformer.extend({ server, client })` makes a transformer (Primus's public way). */
export const PrimusTransformer = Primus.Transformer

/**
 * A Primus server on a detached HTTP server: it receives only what the plugin emits on `primus.server`.
 * `options.pathname` is the full path of the socket, registration prefix included.
 */
export function createPrimus (options: Record<string, unknown>): PrimusServer {
  // Primus writes defaults into the object it is given: give it a copy.
  return new Primus(new EventEmitter(), { ...options })
}

/** A Primus client constructor for Node.js, for `options.transformer` and `options.parser`. */
export function createPrimusSocket (options: Record<string, unknown>): PrimusSocketConstructor {
  return Primus.createSocket(options)
}
