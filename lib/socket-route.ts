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
}

/** Marks the plugin's socket routes in their route config (`request.routeOptions.config`). */
export const SOCKET_ROUTE = 'actionheroWsSocket'

interface Upgrade {
  readonly socket: Duplex
  readonly head: Buffer
}

/**
 * What an upgrade's record becomes once a routing claimed it: a second routing of the same upgrade
 * (another listener's) is not handled again. A shared value, so that the entry, kept as long as the
 * request lives (the spark keeps it), holds neither the socket nor the head.
 */
const TAKEN = Symbol('taken')

/** Routes and the `upgrade` listener of one Primus server; registered in a context of its own. */
export const socketRoute: FastifyPluginAsync<SocketRouteOptions> = async (fastify, { primus, gate, pathname }) => {
  const fullPath = `${fastify.prefix}${pathname}`
  const upgrades = new WeakMap<IncomingMessage, Upgrade | typeof TAKEN>()
  let library: string | undefined

  async function handleSocket (request: HandshakeRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const upgrade = upgrades.get(request.raw)
    if (upgrade === TAKEN) return reply.hijack()
    // Claimed before anything is awaited, so that a second routing of the same upgrade finds it taken.
    if (upgrade !== undefined) upgrades.set(request.raw, TAKEN)
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
    reply.hijack()
    upgrade.socket.removeListener('error', destroySocket)
    // The answer goes out from Primus now: the socket need not keep this response for its lifetime.
    reply.raw.detachSocket(upgrade.socket as Socket)
    if (server === null) {
      upgrade.socket.destroy()
      return undefined
    }
    // Primus announces the connection on the next tick, and the plugin greets it then: corked until
    // the tick after, the 101 answer and the welcome leave in one write (end() flushes it at once).
    upgrade.socket.cork()
    server.emit('upgrade', request.raw, upgrade.socket, upgrade.head)
    process.nextTick(uncork, upgrade.socket)
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
    upgrades.set(raw, { socket, head })
    if (fastify.hasDecorator('websocketServer')) return // @fastify/websocket routes it
    // Node removes its own socket error listener before the upgrade event.
    socket.on('error', destroySocket)
    const response = new ServerResponse(raw)
    response.assignSocket(socket as Socket)
    // A hook or the gate answered: the socket was never upgraded, and is closed once the answer is out.
    response.once('finish', () => socket.end())
    fastify.routing(raw, response)
  }
  // First, so that the upgrade is recorded before any other listener routes it.
  fastify.server.prependListener('upgrade', onUpgrade)
  fastify.addHook('preClose', (done) => {
    fastify.server.removeListener('upgrade', onUpgrade)
    done()
  })
}

function uncork (socket: Duplex): void {
  socket.uncork()
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
