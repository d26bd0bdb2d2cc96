/**
 * fastify-actionhero-ws: the ActionHero WebSocket server as a Fastify plugin.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { writeClientBundle } from './client-bundle.js'
import { RouteTakenError } from './errors.js'
import { registerFingerprint } from './fingerprint.js'
import { httpApi } from './http-api.js'
import { NO_METRICS } from './observability/metrics.js'
import { createPrometheusMetrics } from './observability/prometheus.js'
import { resolveOptions, type ActionheroWsOptions, type ResolvedOptions } from './options.js'
import { publicFiles } from './public-files.js'
import { ActionheroWs } from './server.js'
import { socketRoute } from './socket-route.js'

declare module 'fastify' {
  interface FastifyInstance {
    actionheroWs: ActionheroWs
  }
  interface FastifyRequest {
    /** The visitor's fingerprint (PROTOCOL.md 5: the cookie's value, or the id of a signed one), or null. */
    fingerprint: string | null
  }
}

const plugin: FastifyPluginAsync<ActionheroWsOptions> = async (fastify, rawOptions) => {
  const options = resolveOptions(rawOptions)
  // prom-client is loaded only when metrics are on (an optional peer).
  const metrics = options.metrics === null || !options.enabled ? NO_METRICS : await createPrometheusMetrics(options.metrics)
  let server: ActionheroWs
  try {
    server = new ActionheroWs(options, fastify.log, metrics)
  } catch (error) {
    metrics.close()
    throw error
  }
  fastify.decorate('actionheroWs', server)
  fastify.decorateRequest('fingerprint', null)
  if (!options.enabled) return

  // Everything the plugin serves moves with the prefix of the context it is registered in (and its own
  // `prefix` option, since fastify-plugin keeps the plugin in that context).
  const base = `${fastify.prefix}${options.prefix}`
  const routes = servedRoutes(options, base)
  let clientDir: string | null
  try {
    for (const { url, option } of routes) {
      if (fastify.hasRoute({ method: 'GET', url })) throw new RouteTakenError(url, option)
    }
    // The client is written where it is served, or where the app asked for it; else nowhere.
    const writesClient = options.clientJsName !== null && (options.publicPrefix !== false || options.clientDir !== null)
    clientDir = writesClient ? await ownClientDir(fastify, options) : null
    await server.start()
  } catch (error) {
    // A failed boot leaves nothing counted in a registry the app keeps.
    metrics.close()
    throw error
  }
  try {
    registerFingerprint(fastify, options.fingerprint)
    const gate = server.listen(`${base}${options.server.pathname}`)
    const roots = [clientDir, options.publicPrefix === false ? null : await existingFolder(options.publicDir)]
    await fastify.register(async (context) => {
      await context.register(socketRoute, { primus: server.primus, gate, pathname: options.server.pathname, maxBodyBytes: server.maxBodyBytes })
      if (options.apiPath !== false) {
        await context.register(httpApi, { apiPath: options.apiPath, actions: server.actions, lifecycle: server.lifecycle, gate, methods: options.apiMethods })
      }
      if (options.publicPrefix !== false) {
        await context.register(publicFiles, { roots: [...new Set(roots)].filter((root) => root !== null), publicPrefix: options.publicPrefix })
      }
    }, { prefix: options.prefix })
  } catch (error) {
    // The boot fails: what start() opened (Redis clients) must not keep the process alive.
    await server.close()
    throw error
  }
  // A route the app adds later on one of these paths would take it from the plugin: say which option moves it.
  fastify.addHook('onRoute', (route) => {
    const taken = routes.find(({ url }) => url === route.url)
    if (taken !== undefined) throw new RouteTakenError(route.url, taken.option)
  })
  const { clientJsName } = options
  if (clientDir !== null && clientJsName !== null) {
    // At onReady, so that the library includes the Primus plugins added after register.
    fastify.addHook('onReady', async () => {
      const { files, unminifiedLibrary } = await writeClientBundle(server.primus.library(), {
        ...options,
        clientDir,
        clientJsName,
        pathname: server.primus.pathname,
        apiPath: options.apiPath === false ? false : `${base}${options.apiPath}`
      })
      fastify.log.debug({ files }, 'fastify-actionhero-ws: wrote the browser client')
      if (unminifiedLibrary) {
        fastify.log.info(`fastify-actionhero-ws: ${clientJsName}.min.js carries a readable Primus library; install terser to minify it at boot`)
      }
    })
  }
  // preClose: sockets must be gone before Fastify closes the HTTP server, or close() would wait on them.
  fastify.addHook('preClose', async () => { await server.close() })
}

/** The routes the plugin will add, by full URL, with the option that moves each. */
function servedRoutes (options: ResolvedOptions, base: string): Array<{ url: string, option: string }> {
  const socket = `${base}${options.server.pathname}`
  const served = [
    { url: socket, option: 'server.pathname' },
    { url: `${socket}/*`, option: 'server.pathname' }
  ]
  if (options.apiPath !== false) {
    const api = `${base}${options.apiPath}`
    served.push({ url: api, option: 'apiPath' }, { url: `${api}/:action`, option: 'apiPath' })
  }
  if (options.publicPrefix !== false) served.push({ url: `${base}${options.publicPrefix}*`, option: 'publicPrefix' })
  return served
}

/**
 * The folder the browser client is written to: `clientDir`, or a temporary folder of this instance's
 * own, removed at close, so that nothing is written into the app's sources and a read-only working
 * directory boots.
 */
async function ownClientDir (fastify: FastifyInstance, options: ResolvedOptions): Promise<string> {
  if (options.clientDir !== null) return options.clientDir
  const folder = await mkdtemp(join(tmpdir(), 'fastify-actionhero-ws-'))
  fastify.addHook('onClose', async () => { await rm(folder, { recursive: true, force: true }) })
  return folder
}

/** `folder` when it is a folder, else null: an app without a public folder serves the client alone. */
async function existingFolder (folder: string): Promise<string | null> {
  return await stat(folder).then((stats) => stats.isDirectory() ? folder : null, () => null)
}

export const actionheroWs = fp(plugin, { fastify: '5.x', name: 'fastify-actionhero-ws' })
export default actionheroWs

export { ActionheroWs, type ConnectionHook, type ConnectionHookName } from './server.js'
export { Connection } from './connection.js'
export { Rooms } from './rooms/rooms.js'
export type { BroadcastSender, ChatMiddleware, DepartedMember, PayloadResult } from './rooms/middleware.js'
export { MemoryRoomStore } from './rooms/memory-store.js'
export type { JoinResult, LocalMembers, MemberCounts, RoomMember, RoomStore, RoomStoreEvents } from './rooms/store.js'
export type { PresenceOptions } from './rooms/presence.js'
export type { SayLimit } from './rooms/say-budget.js'
export type { MemberDetails } from './rooms/member-details.js'
export {
  defineAction, type ActionConnection, type ActionDefinition, type ActionOutcome, type ConnectionType, type ParamsOf,
  type WebConnection
} from './actions.js'
export type {
  ActionheroWsOptions, ApiMethod, FingerprintCookieOptions, FingerprintOptions, MetricsOptions, MetricsRegistry, PrimusClientOptions,
  PrimusServerOptions, RedisOptions
} from './options.js'
export type { Authorize, HandshakeRequest, RefusalReason } from './gate.js'
export {
  TRACING_CHANNELS, UNKNOWN_ACTION, type ActionTraceContext, type FileTraceContext, type HandshakeTraceContext,
  type SayTraceContext, type TracedOutcome, type TracedTransport
} from './observability/tracing.js'
export type { PrimusServer, PrimusSocket, PrimusSocketConstructor, Spark } from './primus.js'
export {
  ClientGenerationError, DuplicateActionError, InvalidActionError, InvalidDisconnectError, InvalidHookError, InvalidMessageError,
  InvalidMiddlewareError, InvalidOptionError, RoomError, RouteTakenError
} from './errors.js'
export type { ConnectionTarget, DisconnectOptions } from './kicks.js'
export type { Refresh } from './credentials.js'
export * from '../types/protocol.js'
