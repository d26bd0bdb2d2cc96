/**
 * The fingerprint (PROTOCOL.md 5): a cookie that ties a visitor's sockets to their web requests.
 * HTTP responses to requests without it set it; every request, the socket's handshake included,
 * exposes it as `request.fingerprint`. The cookie is read and written here with the `cookie` package,
 * so that the app may register @fastify/cookie (with its own secret) before this plugin, after it, or not.
 */
import { randomBytes } from 'node:crypto'
import { parse, serialize, type SerializeOptions } from 'cookie'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FingerprintCookieOptions, ResolvedOptions } from './options.js'
import { SOCKET_ROUTE } from './socket-route.js'

/** 128 random bits, as 32 hex characters. */
export function newFingerprint (): string {
  return randomBytes(16).toString('hex')
}

/** The `cookie` package's options for this request: `secure: 'auto'` is `secure` on HTTPS. */
export function serializeOptions ({ secure, ...cookie }: FingerprintCookieOptions, https: boolean): SerializeOptions {
  return { ...cookie, secure: secure === 'auto' ? https : secure }
}

export function registerFingerprint (fastify: FastifyInstance, options: ResolvedOptions['fingerprint']): void {
  const { cookieKey, setCookie, cookie } = options
  fastify.addHook('onRequest', (request, reply, done) => {
    const header = request.headers.cookie
    const existing = header === undefined ? undefined : parse(header)[cookieKey]
    if (existing !== undefined && existing !== '') {
      request.fingerprint = existing
    } else if (setCookie && !isSocketRoute(request)) {
      // Not on the socket's routes: Primus writes those answers itself, and would not send the cookie.
      request.fingerprint = newFingerprint()
      reply.header('set-cookie', serialize(cookieKey, request.fingerprint, serializeOptions(cookie, request.protocol === 'https')))
    }
    done()
  })
}

function isSocketRoute (request: FastifyRequest): boolean {
  return SOCKET_ROUTE in request.routeOptions.config
}
