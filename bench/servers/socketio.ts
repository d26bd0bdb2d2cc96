/**
 * Socket.IO 4, WebSocket transport only: emit with an ack for the echo, a room for the broadcast
 * (`socket.to(room)`: every member but the sender, as the plugin's `say`). `BENCH_REDIS` (JSON of
 * `{ url, prefix }`) gives it the Redis adapter, its channels under `prefix`, for bench/scale.
 */
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'
import type { ChatMessage } from '../../types/protocol.js'
import { heartbeatOff } from '../config.js'
import { listenOnLoopback, serveBench } from './child.js'

/** Socket.IO has no heartbeat off: a ping once an hour is none in a bench. */
const SOCKET_IO_NO_PING_MS = 3_600_000

export interface SocketIoEvents {
  echo: (request: { t: number, text: string }, ack: (reply: { t: number, text: string }) => void) => void
  roomAdd: (room: string, ack: (joined: boolean) => void) => void
  say: (request: { room: string, message: string }) => void
}

export interface SocketIoPushes {
  say: (message: ChatMessage<string>) => void
}

serveBench(async () => {
  const server = createServer()
  const io = new Server<SocketIoEvents, SocketIoPushes>(server, {
    transports: ['websocket'], serveClient: false, ...(heartbeatOff() ? { pingInterval: SOCKET_IO_NO_PING_MS } : {})
  })
  if (process.env.BENCH_REDIS !== undefined) {
    const { url, prefix } = JSON.parse(process.env.BENCH_REDIS) as { url: string, prefix: string }
    const publisher = new Redis(url)
    io.adapter(createAdapter(publisher, publisher.duplicate(), { key: `${prefix}socket.io` }))
  }
  io.on('connection', (socket) => {
    socket.on('echo', (request, ack) => ack({ t: request.t, text: request.text }))
    socket.on('roomAdd', async (room, ack) => {
      await socket.join(room)
      ack(true)
    })
    socket.on('say', ({ room, message }) => {
      socket.to(room).emit('say', { context: 'user', room, from: socket.id, message, sentAt: Date.now() })
    })
  })
  return { port: await listenOnLoopback(server), connections: () => io.engine.clientsCount }
})
