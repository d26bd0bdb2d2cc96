/**
 * The Socket.IO 4 client, WebSocket transport only: emit with an ack for the echo.
 */
import { io, type Socket } from 'socket.io-client'
import type { SocketIoEvents, SocketIoPushes } from '../servers/socketio.js'
import { ECHO_TEXT, type BenchClient, type ConnectClient, type ConnectOptions } from './client.js'

export const socketIoClient = ({ localAddress }: ConnectOptions = {}): ConnectClient => (url, handlers) => new Promise((resolve, reject) => {
  // forceNew: one connection per client, not one shared by every client of the same URL. The Node.js
  // WebSocket transport hands `localAddress` to its socket.
  const socket: Socket<SocketIoPushes, SocketIoEvents> = io(url, {
    transports: ['websocket'], reconnection: false, forceNew: true, transportOptions: { websocket: { localAddress } }
  })
  const client: BenchClient = {
    echo: (sentAt) => socket.emit('echo', { t: sentAt, text: ECHO_TEXT }, (reply) => handlers.onEcho?.(reply.t, client)),
    join: async (room) => {
      if (!await socket.emitWithAck('roomAdd', room)) throw new Error(`the server did not let the client join ${room}`)
    },
    say: (room, message) => socket.emit('say', { room, message }),
    close: () => socket.disconnect()
  }
  socket.on('say', (message) => handlers.onSay?.(message.message))
  socket.once('connect', () => resolve(client))
  socket.once('connect_error', (error) => {
    socket.disconnect()
    reject(error)
  })
})
