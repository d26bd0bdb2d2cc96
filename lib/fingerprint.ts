/**
 * The fingerprint (PROTOCOL.md 5): a cookie that ties a visitor's sockets to their web requests.
 * HTTP responses to requests without a good one set it; every request, the socket's handshake included,
 * exposes it as `request.fingerprint`. The cookie is read and written here with the `cookie` package,
 * so that the app may register @fastify/cookie (with its own secret) before this plugin, after it, or not.
 *
 * A value is taken only when it is bounded (`maxLength` characters of `[A-Za-z0-9._~-]`), since it
 * becomes a key of maps and of Redis. With secrets, only a value the server signed is taken:
 * `<id>.<HMAC-SHA256 of id, base64url>`, and the fingerprint is its id, which may be shown or logged
 * without letting anyone present it. Anything else counts as no fingerprint at all.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { parse, serialize, type SerializeOptions } from 'cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FingerprintCookieOptions, ResolvedOptions } from './options.js'
import { SOCKET_ROUTE } from './socket-route.js'

type FingerprintSettings = ResolvedOptions['fingerprint']

// The unreserved characters of URLs: cookie-safe, and all a fingerprint the plugin issues is made of.
const FINGERPRINT_VALUE = /^[A-Za-z0-9._~-]+$/

const ID_BYTES = 16
/** What a fingerprint the plugin issues measures: 32 hex characters, and `.` and 43 of signature when signed. */
export const ISSUED_LENGTH = { unsigned: ID_BYTES * 2, signed: ID_BYTES * 2 + 1 + 43 }

/** 128 random bits, as 32 hex characters. */
export function newFingerprint (): string {
  return randomBytes(ID_BYTES).toString('hex')
}

/** The cookie value for fingerprint `id`: signed with the first secret, when there are any. */
export function fingerprintValue (id: string, secrets: readonly string[]): string {
  const [secret] = secrets
  return secret === undefined ? id : `${id}.${sign(id, secret)}`
}

/**
 * The fingerprint a cookie value carries, or null when it must not be taken: unbounded, or (with
 * secrets) not signed by one of them. `renew`: signed by an older secret, to be signed again.
 */
export function readFingerprint (value: string | undefined, { maxLength, secrets }: FingerprintSettings): { id: string, renew: boolean } | null {
  if (value === undefined || value.length > maxLength || !FINGERPRINT_VALUE.test(value)) return null
  if (secrets.length === 0) return { id: value, renew: false }
  const dot = value.lastIndexOf('.')
  if (dot <= 0) return null
  const id = value.slice(0, dot)
  const signature = Buffer.from(value.slice(dot + 1))
  for (const [index, secret] of secrets.entries()) {
    const expected = Buffer.from(sign(id, secret))
    // The length of a signature is no secret; its bytes are compared in constant time.
    if (expected.length === signature.length && timingSafeEqual(expected, signature)) return { id, renew: index > 0 }
  }
  return null
}

function sign (id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url')
}

/** The `cookie` package's options for this request: `secure: 'auto'` is `secure` on HTTPS. */
export function serializeOptions ({ secure, ...cookie }: FingerprintCookieOptions, https: boolean): SerializeOptions {
  return { ...cookie, secure: secure === 'auto' ? https : secure }
}

export function registerFingerprint (fastify: FastifyInstance, settings: FingerprintSettings): void {
  const { cookieKey, setCookie, cookie, secrets } = settings
  const setFingerprintCookie = (request: FastifyRequest, reply: FastifyReply, id: string): void => {
    reply.header('set-cookie', serialize(cookieKey, fingerprintValue(id, secrets), serializeOptions(cookie, request.protocol === 'https')))
  }
  fastify.addHook('onRequest', (request, reply, done) => {
    const header = request.headers.cookie
    const presented = readFingerprint(header === undefined ? undefined : parse(header)[cookieKey], settings)
    // Not on the socket's routes: Primus writes those answers itself, and would not send the cookie.
    const sets = setCookie && !isSocketRoute(request)
    if (presented !== null) {
      request.fingerprint = presented.id
      if (presented.renew && sets) setFingerprintCookie(request, reply, presented.id)
    } else if (sets) {
      request.fingerprint = newFingerprint()
      setFingerprintCookie(request, reply, request.fingerprint)
    }
    done()
  })
}

function isSocketRoute (request: FastifyRequest): boolean {
  return SOCKET_ROUTE in request.routeOptions.config
}
