/**
 * `fastify-actionhero-ws/client` for browsers and bundlers: the client, and the wire types it shares
 * with the server. In a page without a bundler, the generated actionheroClient.js gives the same
 * client as the global `ActionheroClient`.
 */
export {
  ActionheroClient, type ActionResponse, type Callback, type ClientEvents, type ClientOptions, type ClientState,
  type ConnectCallback, type ErrorFirstCallback, type FileResponse, type PresenceChange, type PushesRecovery, type ReconnectAttempt, type RoomAddResponse,
  type RoomRecovery, type VerbResponse
} from './client.js'
export type { PresenceMembers } from './presence.js'
export * from '../../types/protocol.js'
