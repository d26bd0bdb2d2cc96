/**
 * The door: every Primus handshake passes `HandshakeGate.check` before it becomes a connection.
 * It refuses foreign origins (403) and what `authorize` throws at (401), and records what the
 * connection will need (address, cookies, fingerprint) so that nothing is parsed twice.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { fastifyCookie } from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import { HandshakeRefusedError } from './errors.js'
import { parseOrigin } from './options.js'

/** What `authorize` and the connection see of the handshake request. */
export interface HandshakeRequest {
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly query: Record<string, string | string[]>
  readonly cookies: Record<string, string>
  /** The client's address, through Fastify's `trustProxy` rules. */
  readonly ip: string
  readonly fingerprint: string | null
  readonly raw: IncomingMessage
}

/**
 * Refuses the handshake by throwing (or rejecting): 401 with `{ error: message }`, or the error's own
 * 4xx `statusCode`. What it returns becomes `connection.auth`.
 */
export type Authorize = (request: HandshakeRequest) => unknown

export interface Handshake {
  request: HandshakeRequest
  auth: unknown
}

export interface HandshakeGateOptions {
  allowedOrigins: '*' | ReadonlySet<string>
  authorize: Authorize | null
  cookieKey: string
  remoteAddress: (request: IncomingMessage) => string
}

export class HandshakeGate {
  readonly #options: HandshakeGateOptions
  // Keyed by the request, so an entry lives exactly as long as the socket that needs it.
  readonly #passed = new WeakMap<IncomingMessage, Handshake>()

  constructor (options: HandshakeGateOptions) {
    this.#options = options
  }

  /** Primus's authorization hook: `done()` lets the handshake through, `done(error)` answers `error.statusCode`. */
  readonly check = (raw: IncomingMessage, done: (error?: Error) => void): void => {
    if (!this.#originAllowed(raw.headers)) {
      done(new HandshakeRefusedError('origin not allowed', 403))
      return
    }
    const request = this.#describe(raw)
    const { authorize } = this.#options
    if (authorize === null) {
      this.#passed.set(raw, { request, auth: undefined })
      done()
      return
    }
    Promise.resolve()
      .then(() => authorize(request))
      .then((auth) => {
        this.#passed.set(raw, { request, auth })
        done()
      }, (error: unknown) => done(refusal(error)))
  }

  /** The handshake recorded for a request that passed `check`. */
  passed (raw: IncomingMessage): Handshake {
    return this.#passed.get(raw) ?? { request: this.#describe(raw), auth: undefined }
  }

  #originAllowed (headers: IncomingHttpHeaders): boolean {
    const { allowedOrigins } = this.#options
    const origin = headers.origin
    // Browsers always send Origin on a WebSocket handshake; other clients are not subject to it.
    if (origin === undefined || allowedOrigins === '*') return true
    const normalised = parseOrigin(origin)
    if (normalised === null) return false
    if (allowedOrigins.has(normalised)) return true
    return new URL(normalised).host === headers.host
  }

  #describe (raw: IncomingMessage): HandshakeRequest {
    const cookies = raw.headers.cookie === undefined ? {} : fastifyCookie.parse(raw.headers.cookie)
    return new HandshakeDescription(raw, cookies, cookies[this.#options.cookieKey] || null, this.#options.remoteAddress(raw))
  }
}

/** A handshake request; its query is parsed when first asked for, since most handshakes never are. */
class HandshakeDescription implements HandshakeRequest {
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly cookies: Record<string, string>
  readonly fingerprint: string | null
  readonly ip: string
  readonly raw: IncomingMessage
  #query: Record<string, string | string[]> | undefined

  constructor (raw: IncomingMessage, cookies: Record<string, string>, fingerprint: string | null, ip: string) {
    this.url = raw.url ?? '/'
    this.headers = raw.headers
    this.cookies = cookies
    this.fingerprint = fingerprint
    this.ip = ip
    this.raw = raw
  }

  get query (): Record<string, string | string[]> {
    if (this.#query !== undefined) return this.#query
    const query: Record<string, string | string[]> = {}
    for (const [key, value] of new URL(this.url, 'http://localhost').searchParams) {
      const previous = query[key]
      query[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
    }
    this.#query = query
    return query
  }
}

function refusal (error: unknown): HandshakeRefusedError {
  const message = error instanceof Error ? error.message : 'unauthorized'
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  const status = typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 ? statusCode : 401
  return new HandshakeRefusedError(message || 'unauthorized', status)
}

/**
 * Reads a request's address with the app's own `trustProxy` rules. Fastify keeps those rules in its
 * Request class and not in `initialConfig`, so the address is read through that class's `ip` getter.
 */
export function remoteAddressReader (fastify: FastifyInstance): (raw: IncomingMessage) => string {
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.Request')
  const RequestClass = key === undefined ? undefined : (fastify as unknown as Record<symbol, unknown>)[key]
  const prototype = typeof RequestClass === 'function' ? RequestClass.prototype as object : null
  if (prototype === null || !('ip' in prototype)) {
    fastify.log.warn('fastify-actionhero-ws: cannot read Fastify\'s trustProxy rules; socket addresses ignore proxies')
    return (raw) => raw.socket.remoteAddress ?? ''
  }
  return (raw) => {
    const probe = Object.create(prototype) as { raw: IncomingMessage, ip?: string }
    probe.raw = raw
    return probe.ip ?? raw.socket.remoteAddress ?? ''
  }
}
