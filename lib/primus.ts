/**
 * Primus, typed for what this plugin uses of it (Primus ships no types), and bound to Fastify's server.
 */
import { createRequire } from 'node:module'
import type { IncomingMessage, Server } from 'node:http'

/** The server side of one Primus connection. */
export interface Spark {
  readonly id: string
  readonly readyState: number
  readonly request: IncomingMessage
  readonly query: Record<string, string | string[]>
  /** The transformer's socket; for `websockets`, the `ws` WebSocket. */
  readonly socket: { bufferedAmount?: number, terminate?: () => void } | null
  write (data: unknown): boolean
  end (data?: unknown, options?: { reconnect?: boolean }): void
  emit (event: 'outgoing::data', data: string): boolean
  on (event: 'data', listener: (data: unknown) => void): this
  on (event: 'error', listener: (error: Error) => void): this
  on (event: 'end', listener: () => void): this
  on (event: 'outgoing::data', listener: (data: unknown) => void): this
  listenerCount (event: string): number
}

export type PrimusAuthorize = (request: IncomingMessage, done: (error?: Error) => void) => void

/** A Primus client constructor, as `primus.Socket` or `Primus.createSocket` give it. */
export interface PrimusSocketConstructor {
  new (url: string, options?: Record<string, unknown>): PrimusSocket
}

/** The Node.js Primus client. */
export interface PrimusSocket {
  readonly readyState: number
  write (data: unknown): boolean
  /** Opens the socket again after `end()`. */
  open (): this
  end (): void
  on (event: string, listener: (...args: never[]) => void): this
  once (event: string, listener: (...args: never[]) => void): this
  removeListener (event: string, listener: (...args: never[]) => void): this
}

export interface PrimusServer {
  readonly options: Record<string, unknown>
  readonly pathname: string
  readonly connected: number
  readonly transformers: { incoming: unknown[], outgoing: unknown[] }
  readonly Socket: PrimusSocketConstructor
  authorize (fn: PrimusAuthorize): this
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

interface PrimusModule {
  new (server: Server, options: Record<string, unknown>): PrimusServer
  createSocket (options: Record<string, unknown>): PrimusSocketConstructor
  readonly Spark: { readonly CLOSED: number, readonly OPEN: number }
}

const Primus = createRequire(import.meta.url)('primus') as PrimusModule

export const SPARK_CLOSED = Primus.Spark.CLOSED

/** Binds a Primus server to `server`: Primus handles its pathname and hands every other request on. */
export function createPrimus (server: Server, options: Record<string, unknown>): PrimusServer {
  // Primus writes defaults into the object it is given: give it a copy.
  return new Primus(server, { ...options })
}

/** A Primus client constructor for Node.js, for `options.transformer` and `options.parser`. */
export function createPrimusSocket (options: Record<string, unknown>): PrimusSocketConstructor {
  return Primus.createSocket(options)
}
