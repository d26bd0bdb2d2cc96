/**
 * The socket's way in, through Fastify. Routes under Primus's pathname take its HTTP requests
 * (long-polling transformers, `/spec`) and its upgrades, so that the app's hooks (sessions, auth, rate
 * limits, logging) run on every handshake and a hook that replies refuses it; then the gate
 * (gate.ts) decides, and Primus gets the request. Primus's client library has a route of its own.
 *
 * Upgrades reach routes the way @fastify/websocket sends them: through `fastify.routing`. Only the
 * upgrades of our pathname are ours; when @fastify/websocket is there, it routes every upgrade itself
 * and we leave ours to it, so that each handshake is routed once.
 */
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply, RouteHandlerMethod } from 'fastify'
import type { Gate, HandshakeRequest } from './gate.js'
import type { PrimusServer } from './primus.js'

export interface SocketRouteOptions {
  primus: PrimusServer
  gate: Gate
  /** `server.pathname`, under this context's prefix. */
  pathname: string
  /** The largest body a request may announce (lib/transport): larger is answered 413, unread. */
  maxBodyBytes: number
}

/** Marks the plugin's socket routes in their route config (`request.routeOptions.config`). */
export const SOCKET_ROUTE = 'actionheroWsSocket'

interface Upgrade {
  readonly socket: Duplex
  readonly head: Buffer
  /** Takes the socket off the in-flight set when it closes first. */
  readonly forget: () => void
}

/**
 * What an upgrade's record becomes once a routing claimed it: a second routing of the same upgrade
 * (another listener's) is not handled again. A shared value, so that the entry, kept as long as the
 * request lives (the spark keeps it), holds neither the socket nor the head.
 */
const TAKEN = Symbol('taken')

/** Routes and the `upgrade` listener of one Primus server; registered in a context of its own. */
export const socketRoute: FastifyPluginAsync<SocketRouteOptions> = async (fastify, { primus, gate, pathname, maxBodyBytes }) => {
  const fullPath = `${fastify.prefix}${pathname}`
  const upgrades = new WeakMap<IncomingMessage, Upgrade | typeof TAKEN>()
  /** Upgrade sockets not yet handed to Primus nor closed: destroyed when the app closes. */
  const inFlight = new Set<Duplex>()
  let library: string | undefined

  async function handleSocket (request: HandshakeRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const upgrade = upgrades.get(request.raw)
    if (upgrade === TAKEN) return reply.hijack()
    // Claimed before anything is awaited, so that a second routing of the same upgrade finds it taken.
    if (upgrade !== undefined) upgrades.set(request.raw, TAKEN)
    const unread = refuseBody(request.raw, maxBodyBytes)
    if (unread !== null) {
      request.log.info({ statusCode: unread.statusCode, contentLength: request.headers['content-length'] }, 'fastify-actionhero-ws: request body refused')
      // Closed after the answer: the body is never read.
      return reply.code(unread.statusCode).header('connection', 'close').send({ error: unread.error })
    }
    if (!await gate.admitSocket(request, reply)) return reply
    const server = primus.server
    if (upgrade === undefined) {
      // A transformer that serves no HTTP (none of Primus's listens to requests then): Fastify's 404.
      if (server === null || server.listenerCount('request') === 0) {
        reply.callNotFound()
        return undefined
      }
      reply.hijack()
      server.emit('request', request.raw, reply.raw)
      return undefined
    }
    if (server === null || server.listenerCount('upgrade') === 0) {
      // No transformer takes upgrades (browserchannel), or Primus is gone: answered, never held.
      reply.callNotFound()
      return undefined
    }
    reply.hijack()
    inFlight.delete(upgrade.socket)
    upgrade.socket.removeListener('close', upgrade.forget)
    // The answer goes out from Primus now: the socket need not keep this response for its lifetime.
    // The error listener stays: a transformer may write to a socket it already ended (sockjs), and an
    // error without a listener would crash the process.
    reply.raw.detachSocket(upgrade.socket as Socket)
    server.emit('upgrade', request.raw, upgrade.socket, upgrade.head)
    return undefined
  }

  const serveLibrary: RouteHandlerMethod = async (_request, reply) => {
    // Built on first use, as Primus does, so that it includes the Primus plugins added after register.
    library ??= primus.library()
    return reply.type('text/javascript; charset=utf-8').send(library)
  }

  // Bodies (long-polling POSTs) are the transformer's to read: no parser of Fastify's may consume them.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  // @fastify/websocket, registered before this plugin, wraps the handler of every later route to
  // upgrade with its own server: the routes of this context keep their own handlers.
  const handlers: Record<string, RouteHandlerMethod> = { socket: handleSocket as RouteHandlerMethod, library: serveLibrary }
  fastify.addHook('onRoute', (route) => {
    const kind = (route.config as Record<string, unknown> | undefined)?.[SOCKET_ROUTE]
    if (typeof kind === 'string' && handlers[kind] !== undefined) route.handler = handlers[kind]
  })
  fastify.get(`${pathname}/primus.js`, { config: { [SOCKET_ROUTE]: 'library' } }, serveLibrary)
  for (const url of [pathname, `${pathname}/*`]) {
    fastify.all(url, { config: { [SOCKET_ROUTE]: 'socket' } }, handleSocket as RouteHandlerMethod)
  }

  function onUpgrade (raw: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!isUnder(raw.url, fullPath)) {
      // Node destroys an upgrade that nobody listens to; now that this listener is here, do the same
      // for the upgrades no other listener will take.
      if (fastify.server.listenerCount('upgrade') === 1) socket.destroy()
      return
    }
    const forget = (): void => { inFlight.delete(socket) }
    upgrades.set(raw, { socket, head, forget })
    inFlight.add(socket)
    socket.once('close', forget)
    // Node removes its own socket error listener before the upgrade event.
    socket.on('error', destroySocket)
    if (fastify.hasDecorator('websocketServer')) return // @fastify/websocket routes it
    const response = new ServerResponse(raw)
    response.assignSocket(socket as Socket)
    // A hook or the gate answered: the socket was never upgraded, and is closed once the answer is
    // out, without waiting for the client to close its side.
    response.once('finish', () => { (socket as Socket).destroySoon() })
    fastify.routing(raw, response)
  }
  // First, so that the upgrade is recorded before any other listener routes it.
  fastify.server.prependListener('upgrade', onUpgrade)
  fastify.addHook('preClose', (done) => {
    fastify.server.removeListener('upgrade', onUpgrade)
    done()
  })
  // Handshakes still on their way (a hook or `authorize` that never answers) must not hold the HTTP server open.
  fastify.addHook('onClose', (_instance, done) => {
    for (const socket of inFlight) socket.destroy()
    inFlight.clear()
    done()
  })
}

/** Why a request's body is refused before it is read, or null: too large (413), or of unknown length (411). */
function refuseBody (request: IncomingMessage, maxBodyBytes: number): { statusCode: number, error: string } | null {
  const length = request.headers['content-length']
  if (length !== undefined) return Number(length) > maxBodyBytes ? { statusCode: 413, error: 'request body too large' } : null
  // A body without a length could only be read to its end to know how long it is.
  return request.headers['transfer-encoding'] === undefined ? null : { statusCode: 411, error: 'a request body needs a Content-Length' }
}

function destroySocket (this: Duplex): void {
  this.destroy()
}

/** Whether `url` is `path` or below it (`path/...`), with or without a query. */
function isUnder (url: string | undefined, path: string): boolean {
  if (url === undefined || !url.startsWith(path)) return false
  const next = url.charAt(path.length)
  return next === '' || next === '/' || next === '?'
}
