/**
 * The client of each target. Each is built when asked for, so a load process loads only its own.
 */
import type { TargetName } from '../config.js'
import { actionheroClient } from './actionhero.js'
import type { ConnectClient } from './client.js'
import { connectSocketIo } from './socketio.js'
import { openWs } from './ws.js'

export const CLIENTS: Record<TargetName, () => ConnectClient> = {
  ws: () => actionheroClient(openWs()),
  primus: () => actionheroClient(openWs({ path: '/primus', primus: true })),
  socketio: () => connectSocketIo,
  plugin: () => actionheroClient(openWs({ path: '/primus', primus: true }))
}
