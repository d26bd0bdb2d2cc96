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
  /** The transformer's socket; for `websockets`, the `ws` WebSocket. */
  readonly socket: { bufferedAmount?: number, terminate?: () => void } | null
  /** False from a ping until its pong: a spark still not alive at the next ping is ended. */
  alive: boolean
  /** Sends this spark's ping; Primus's server calls it every `pingInterval`. Writable, for custom policies. */
  heartbeat: (this: Spark) => void
  write (data: unknown): boolean
  end (data?: unknown, options?: { reconnect?: boolean }): void
  emit (event: 'outgoing::data', data: string): boolean
  emit (event: 'heartbeat'): boolean
  on (event: 'data', listener: (data: unknown) => void): this
  on (event: 'error', listener: (error: Error) => void): this
  on (event: 'end', listener: () => void): this
  on (event: 'outgoing::data', listener: (data: unknown) => void): this
  listenerCount (event: string): number
}

export interface PrimusServer {
  readonly options: Record<string, unknown>
  readonly pathname: string
  readonly connected: number
  readonly transformers: { incoming: unknown[], outgoing: unknown[] }
  readonly Socket: PrimusSocketConstructor
  /** The detached server Primus listens on; null once Primus is destroyed. */
  readonly server: PrimusHttpServer | null
  library (nodejs?: boolean): string
  spark (id: string): Spark | undefined
  forEach (fn: (spark: Spark) => void): this
  destroy (options: { close?: boolean, reconnect?: boolean, timeout?: number }, done?: (error?: Error) => void): this
  on (event: 'connection' | 'disconnection', listener: (spark: Spark) => void): this
  on (event: 'log', listener: (level: string, ...details: unknown[]) => void): this
  on (event: string, listener: (...args: never[]) => void): this
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
  readonly Spark: { readonly CLOSED: number, readonly OPEN: number, readonly prototype: { heartbeat: (this: Spark) => void } }
}

const Primus = createRequire(import.meta.url)('primus') as PrimusModule

export const SPARK_CLOSED = Primus.Spark.CLOSED
/** Primus's own `spark.heartbeat`, which the direct path replaces (fast-path.ts) and falls back to. */
export const primusHeartbeat = Primus.Spark.prototype.heartbeat

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
