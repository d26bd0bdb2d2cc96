/**
 * fastify-actionhero-ws: the ActionHero WebSocket server as a Fastify plugin.
 */
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { writeClientBundle } from './client-bundle.js'
import { registerFingerprint } from './fingerprint.js'
import { remoteAddressReader } from './handshake.js'
import { httpApi } from './http-api.js'
import { resolveOptions, type ActionheroWsOptions } from './options.js'
import { publicFiles } from './public-files.js'
import { ActionheroWs } from './server.js'

declare module 'fastify' {
  interface FastifyInstance {
    actionheroWs: ActionheroWs
  }
  interface FastifyRequest {
    /** The visitor's fingerprint cookie (PROTOCOL.md 5), or null. */
    fingerprint: string | null
  }
}

const plugin: FastifyPluginAsync<ActionheroWsOptions> = async (fastify, rawOptions) => {
  const options = resolveOptions(rawOptions)
  const server = new ActionheroWs(options, fastify.log)
  fastify.decorate('actionheroWs', server)
  fastify.decorateRequest('fingerprint', null)
  if (!options.enabled) return

  await server.start()
  try {
    await registerFingerprint(fastify, options.fingerprint)
    if (options.apiPath !== false) {
      await fastify.register(httpApi, { apiPath: options.apiPath, actions: server.actions, lifecycle: server.lifecycle })
    }
    if (options.publicPrefix !== false) {
      await fastify.register(publicFiles, { root: options.publicDir, publicPrefix: options.publicPrefix, createRoot: options.clientJsName !== null })
    }
    server.listen(fastify.server, remoteAddressReader(fastify))
  } catch (error) {
    // The boot fails: what start() opened (Redis clients) must not keep the process alive.
    await server.close()
    throw error
  }
  const { clientJsName } = options
  if (clientJsName !== null) {
    // At onReady, so that the library includes the Primus plugins added after register.
    fastify.addHook('onReady', async () => {
      const files = await writeClientBundle(server.primus.library(), { ...options, clientJsName })
      fastify.log.debug({ files }, 'fastify-actionhero-ws: wrote the browser client')
    })
  }
  // preClose: sockets must be gone before Fastify closes the HTTP server, or close() would wait on them.
  fastify.addHook('preClose', async () => { await server.close() })
}

export const actionheroWs = fp(plugin, { fastify: '5.x', name: 'fastify-actionhero-ws' })
export default actionheroWs

export { ActionheroWs, type ConnectionHook, type ConnectionHookName } from './server.js'
export { Connection } from './connection.js'
export { Rooms } from './rooms/rooms.js'
export type { BroadcastSender, ChatMiddleware, DepartedMember, PayloadResult } from './rooms/middleware.js'
export { MemoryRoomStore } from './rooms/memory-store.js'
export type { JoinResult, RoomMember, RoomStore, RoomStoreEvents } from './rooms/store.js'
export type { MemberDetails } from './rooms/member-details.js'
export {
  defineAction, type ActionConnection, type ActionDefinition, type ActionOutcome, type ConnectionType, type ParamsOf,
  type WebConnection
} from './actions.js'
export type { ActionheroWsOptions, FingerprintOptions, PrimusClientOptions, PrimusServerOptions, RedisOptions } from './options.js'
export type { Authorize, HandshakeRequest } from './handshake.js'
export type { PrimusServer, PrimusSocket, PrimusSocketConstructor, Spark } from './primus.js'
export { ClientGenerationError, DuplicateActionError, InvalidActionError, InvalidHookError, InvalidMessageError, InvalidMiddlewareError, InvalidOptionError, RoomError } from './errors.js'
export * from '../types/protocol.js'
