/**
 * What the client needs of Primus, typed (Primus ships no types): its options and its socket. Shared
 * by the server and the client, and free of server and Node.js types, so that the browser client's
 * types compile anywhere.
 */

/** Primus client options baked into the generated client as its defaults. */
export interface PrimusClientOptions {
  reconnect?: { max?: number, min?: number, retries?: number, 'reconnect timeout'?: number, factor?: number }
  timeout?: number
  pingTimeout?: number | false
  strategy?: string | string[] | false
  manual?: boolean
  websockets?: boolean
  network?: boolean
  transport?: Record<string, unknown>
  queueSize?: number
  [option: string]: unknown
}

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
  /** Ends the socket and removes everything it listens to (the browser's network events too). */
  destroy? (): void
  on (event: string, listener: (...args: never[]) => void): this
  once (event: string, listener: (...args: never[]) => void): this
  removeListener (event: string, listener: (...args: never[]) => void): this
}
