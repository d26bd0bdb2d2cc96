/**
 * The gate: every request the plugin serves on behalf of a visitor passes it, after the app's own hooks
 * and before Primus or an action sees it: the socket's handshake and every long-polling request of its
 * transformer (socket-route.ts), and every call of the HTTP API (http-api.ts). One origin rule, one CORS
 * answer, one `authorize`, one way to refuse (`{ error }`, logged with the reason). The public folder and
 * Primus's client library are not behind it: pages and scripts may be loaded from anywhere.
 *
 * Where a request comes from:
 * - With an `Origin` header: the app's own origin (scheme, host and port, by the app's `trustProxy`
 *   rules) or one of `allowedOrigins`; `null` and what is not an origin are refused.
 * - Without one, a browser says where it comes from in `Sec-Fetch-Site` (no Origin on a `<script>`, an
 *   `<img>`, a link or a same-origin GET): `same-origin` and `none` (typed, bookmarked) pass;
 *   `same-site` and `cross-site` pass only when the `Referer`'s origin would, so that a sibling
 *   subdomain cannot load the socket's JSONP polling with the visitor's cookies.
 * - Neither: not a browser (a server, a script, a native app), which carries no visitor's cookies by
 *   itself: it passes, and `authorize` decides.
 * - `allowedOrigins: '*'` lets every origin (but `null`) through, with credentials: a warning at boot says so.
 *
 * Browsers send `Sec-Fetch-Site` to HTTPS sites (and localhost) only. Over plain HTTP a `<script>` of
 * another site looks like a non-browser: so the transports whose answer such a page can read without
 * CORS (JSONP, iframes) are not served at all (see `readableWithoutCors`).
 */
import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS } from '../types/protocol.js'
import { errorMessage, isSystemError, statusCodeOf } from './errors.js'
import type { Metrics } from './observability/metrics.js'
import { handshakeChannel, isTraced, trace, type HandshakeTraceContext } from './observability/tracing.js'
import { parseOrigin } from './options.js'

/**
 * The request as `authorize` and `connection.handshake` see it: the Fastify request, with the app's
 * decorations (`request.session`, `request.user`...), `request.ip` by the app's `trustProxy` rules and
 * `request.fingerprint`. `authorize` gets the socket's handshake and the HTTP API's calls alike.
 */
export type HandshakeRequest = FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>

/**
 * Refuses by throwing (or rejecting): an Error's own 4xx `statusCode` and message, else 401 with its
 * message; a system error, a 5xx or what is not an Error answers 500 with a generic message and is
 * logged. What it returns becomes the connection's `auth`.
 */
export type Authorize = (request: HandshakeRequest) => unknown

export interface Handshake {
  request: HandshakeRequest
  auth: unknown
}

/** What a request that passed the gate carries on with. */
export interface Admission {
  /** What `authorize` returned (undefined without `authorize`). */
  auth: unknown
}

export interface GateOptions {
  allowedOrigins: '*' | ReadonlySet<string>
  authorize: Authorize | null
}

/** Which way in a request takes, for the log. */
export type Way = 'handshake' | 'API request'

/** The methods the socket's long-polling transports use, for a CORS preflight. */
const SOCKET_METHODS = ['GET', 'POST'] as const
/** How long a browser may keep a preflight's answer, in seconds (Chromium keeps it 2 hours at most). */
const PREFLIGHT_MAX_AGE = '600'

/**
 * Why a request was refused, in a word of a fixed list (the handshakes-refused metric's label, the
 * handshake trace's `reason`): what `authorize` says is the app's text, and unbounded.
 */
export type RefusalReason = 'transport_not_served' | 'origin_not_allowed' | 'unauthorized' | 'authorize_failed'

export interface Refusal {
  statusCode: number
  error: string
  reason: RefusalReason
  /** What `authorize` threw, for the log. */
  cause?: unknown
}

export class Gate {
  readonly #options: GateOptions
  readonly #metrics: Metrics
  // Keyed by the raw request, which the spark keeps: an entry lives exactly as long as its socket.
  readonly #passed = new WeakMap<IncomingMessage, Handshake>()
  /** Why a handshake was refused, for its trace; an entry lives as long as its request. */
  readonly #refusals = new WeakMap<FastifyRequest, Refusal>()

  constructor (options: GateOptions, log: FastifyBaseLogger, metrics: Metrics) {
    this.#options = options
    this.#metrics = metrics
    if (options.allowedOrigins === '*') {
      log.warn('fastify-actionhero-ws: allowedOrigins is "*": pages of any website may open sockets and call the HTTP API as your visitors, with their cookies; list the origins you trust instead')
    }
  }

  /**
   * The socket's way in: where the request comes from, then `authorize`. Resolves true when Primus may
   * have it (its handshake kept for the connection it makes); else the gate has answered it: a refusal,
   * or a CORS preflight.
   */
  admitSocket (request: HandshakeRequest, reply: FastifyReply): Promise<boolean> {
    if (!isTraced(handshakeChannel)) return this.#admitSocket(request, reply)
    const context: HandshakeTraceContext = { path: request.url.split('?', 1)[0] ?? '' }
    return trace(handshakeChannel, context, () => this.#admitSocket(request, reply), (admitted, traced) => {
      const refusal = admitted ? undefined : this.#refusals.get(request)
      traced.outcome = refusal === undefined ? 'ok' : refusal.statusCode >= 500 ? 'error' : 'refused'
      if (refusal === undefined) return
      traced.reason = refusal.reason
      traced.statusCode = refusal.statusCode
      traced.error = new Error(refusal.error)
    })
  }

  async #admitSocket (request: HandshakeRequest, reply: FastifyReply): Promise<boolean> {
    if (readableWithoutCors(request)) {
      this.#refuse(request, reply, { statusCode: 403, error: ERRORS.transportNotServed, reason: 'transport_not_served' }, 'handshake')
      return false
    }
    if (!this.admitOrigin(request, reply, SOCKET_METHODS, 'handshake')) return false
    const admission = await this.authorize(request, reply, 'handshake')
    if (admission === null) return false
    this.#passed.set(request.raw, { request, auth: admission.auth })
    return true
  }

  /** The handshake recorded for a raw request that passed `admitSocket`, handed over once. */
  passed (raw: IncomingMessage): Handshake | undefined {
    const handshake = this.#passed.get(raw)
    this.#passed.delete(raw)
    return handshake
  }

  /**
   * Judges where `request` comes from. Refused: answers 403 and resolves false. A CORS preflight that
   * passes is answered here (for `methods`), without `authorize`, since a preflight carries no
   * credentials. Any other request that passes with an `Origin` gets the CORS headers that let that
   * origin read the answer, with credentials: the CORS answer is the gate's decision, nothing else's.
   */
  admitOrigin (request: FastifyRequest, reply: FastifyReply, methods: readonly string[], way: Way): boolean {
    if (!this.#originAllowed(request)) {
      this.#refuse(request, reply, { statusCode: 403, error: ERRORS.originNotAllowed, reason: 'origin_not_allowed' }, way)
      return false
    }
    const { origin } = request.headers
    if (origin === undefined) return true
    reply.raw.setHeader('access-control-allow-origin', origin)
    reply.raw.setHeader('access-control-allow-credentials', 'true')
    reply.raw.setHeader('vary', 'Origin')
    if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return true
    const headers = request.headers['access-control-request-headers']
    if (headers !== undefined) reply.header('access-control-allow-headers', headers)
    reply.header('access-control-allow-methods', methods.join(', ')).header('access-control-max-age', PREFLIGHT_MAX_AGE).code(204).send()
    return false
  }

  /** Runs `authorize`: resolves what it returned, or null once its refusal is answered. */
  async authorize (request: FastifyRequest, reply: FastifyReply, way: Way): Promise<Admission | null> {
    const { authorize } = this.#options
    if (authorize === null) return { auth: undefined }
    try {
      return { auth: await authorize(request as HandshakeRequest) }
    } catch (error) {
      this.#refuse(request, reply, authorizeRefusal(error), way)
      return null
    }
  }

  #refuse (request: FastifyRequest, reply: FastifyReply, refusal: Refusal, way: Way): void {
    const { statusCode, error, cause } = refusal
    if (way === 'handshake') {
      this.#refusals.set(request, refusal)
      this.#metrics.handshakeRefused(refusal.reason)
    }
    const details = { reason: error, statusCode, err: cause }
    // What the app did not choose to say (a failure of its own) goes to the log, as a 5xx.
    if (statusCode >= 500) request.log.error(details, `fastify-actionhero-ws: ${way} refused`)
    else request.log.info(details, `fastify-actionhero-ws: ${way} refused`)
    reply.code(statusCode).send({ error })
  }

  #originAllowed (request: FastifyRequest): boolean {
    const { origin, referer } = request.headers
    if (origin !== undefined) return this.#allows(origin, request)
    const site = request.headers['sec-fetch-site']
    if (site === undefined || site === 'same-origin' || site === 'none' || this.#options.allowedOrigins === '*') return true
    return referer !== undefined && this.#allows(referer, request)
  }

  /** Whether the origin of `value` (an Origin header, or a Referer URL) may come in. */
  #allows (value: string, request: FastifyRequest): boolean {
    const origin = parseOrigin(value)
    if (origin === null) return false
    const { allowedOrigins } = this.#options
    if (allowedOrigins === '*' || allowedOrigins.has(origin)) return true
    return origin === parseOrigin(`${request.protocol}://${request.host}`)
  }
}

/** sockjs's JSONP (`/jsonp`, `/jsonp_send`), forever-frame (`/htmlfile`) and iframe pages (`/iframe.html`). */
const SOCKJS_WITHOUT_CORS = /\/(?:jsonp|jsonp_send|htmlfile|iframe[\w.-]*\.html)$/

/**
 * Whether a socket request asks for an answer a page of another origin can read without CORS: engine.io's
 * JSONP polling (`j`), sockjs's JSONP, htmlfile and iframe transports, browserchannel's forever frame
 * (`TYPE=html`, which can even relax `document.domain`). They are for browsers without CORS (Internet
 * Explorer 9 and older); no client of Primus's needs them in a browser of today, and over plain HTTP
 * nothing tells the app's page from another site's `<script>` or `<iframe>` (no Origin, no
 * Sec-Fetch-Site): with the visitor's cookies, such a page would read the visitor's messages.
 */
function readableWithoutCors (request: HandshakeRequest): boolean {
  const { j, TYPE } = request.query
  if (j !== undefined || TYPE === 'html') return true
  return SOCKJS_WITHOUT_CORS.test(request.url.split('?', 1)[0] ?? '')
}

/**
 * What a throw from `authorize` answers. An Error is a refusal with a reason the app chose: its own
 * 4xx status, else 401, with its message. What the app did not choose to say (a system error, a
 * non-Error) is the server failing, not the visitor refused: 500 and the generic message, as an
 * action's would be. An Error with a 5xx `statusCode` keeps its message and status.
 */
export function authorizeRefusal (error: unknown): Refusal {
  const ownStatus = statusCodeOf(error)
  const deliberate = error instanceof Error && !isSystemError(error)
  const statusCode = ownStatus ?? (deliberate ? 401 : 500)
  const message = errorMessage(error)
  return { statusCode, error: message === '' ? ERRORS.unauthorized : message, reason: statusCode >= 500 ? 'authorize_failed' : 'unauthorized', cause: error }
}
