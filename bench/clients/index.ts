/**
 * The client of each target. Each is built when asked for, so a load process loads only its own.
 */
import type { TargetName } from '../config.js'
import { actionheroClient } from './actionhero.js'
import type { ConnectClient, ConnectOptions } from './client.js'
import { socketIoClient } from './socketio.js'
import { socketIoWireClient } from './socketio-wire.js'
import { openWs } from './ws.js'

export const CLIENTS: Record<TargetName, (options?: ConnectOptions) => ConnectClient> = {
  ws: (options) => actionheroClient(openWs({ ...options })),
  primus: (options) => actionheroClient(openWs({ ...options, path: '/primus', primus: true })),
  socketio: (options) => socketIoClient(options),
  plugin: (options) => actionheroClient(openWs({ ...options, path: '/primus', primus: true })),
  pluginNoHistory: (options) => actionheroClient(openWs({ ...options, path: '/primus', primus: true })),
  pluginMetrics: (options) => actionheroClient(openWs({ ...options, path: '/primus', primus: true }))
}

/**
 * The clients of the chat scenario, lean for 10,000 members: the same as `CLIENTS` but for Socket.IO,
 * whose protocol is written by hand over `ws` instead of socket.io-client.
 */
export const LEAN_CLIENTS: Record<TargetName, (options?: ConnectOptions) => ConnectClient> = {
  ...CLIENTS,
  socketio: (options) => socketIoWireClient(options)
}
