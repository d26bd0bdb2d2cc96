/**
 * The door: every request Fastify routes to the socket's path passes `HandshakeGate.check`, after the
 * app's own hooks, before Primus sees it. It refuses foreign origins (403) and what `authorize` throws
 * at (401), and keeps, for the connection, the Fastify request and what `authorize` returned.
 */
import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { HandshakeRefusedError } from './errors.js'
import { parseOrigin } from './options.js'

/**
 * The handshake as `authorize` and `connection.handshake` see it: the Fastify request, with the app's
 * decorations (`request.session`, `request.user`...), `request.ip` by the app's `trustProxy` rules and
 * `request.fingerprint`.
 */
export type HandshakeRequest = FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>

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
}

export class HandshakeGate {
  readonly #options: HandshakeGateOptions
  // Keyed by the raw request, which the spark keeps: an entry lives exactly as long as its socket.
  readonly #passed = new WeakMap<IncomingMessage, Handshake>()

  constructor (options: HandshakeGateOptions) {
    this.#options = options
  }

  /** Resolves null when the request may reach Primus, or the reason it may not. */
  async check (request: HandshakeRequest): Promise<HandshakeRefusedError | null> {
    if (!this.#originAllowed(request)) return new HandshakeRefusedError('origin not allowed', 403)
    const { authorize } = this.#options
    let auth: unknown
    if (authorize !== null) {
      try {
        auth = await authorize(request)
      } catch (error) {
        return refusal(error)
      }
    }
    this.#passed.set(request.raw, { request, auth })
    return null
  }

  /** The handshake recorded for a raw request that passed `check`, handed over once. */
  passed (raw: IncomingMessage): Handshake | undefined {
    const handshake = this.#passed.get(raw)
    this.#passed.delete(raw)
    return handshake
  }

  #originAllowed ({ headers }: HandshakeRequest): boolean {
    const { allowedOrigins } = this.#options
    const origin = headers.origin
    // Browsers always send Origin on a WebSocket handshake; other clients are not subject to it.
    if (origin === undefined || allowedOrigins === '*') return true
    const normalised = parseOrigin(origin)
    if (normalised === null) return false
    if (allowedOrigins.has(normalised)) return true
    return new URL(normalised).host === headers.host
  }
}

function refusal (error: unknown): HandshakeRefusedError {
  const message = error instanceof Error ? error.message : 'unauthorized'
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode
  const status = typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 ? statusCode : 401
  return new HandshakeRefusedError(message || 'unauthorized', status)
}
