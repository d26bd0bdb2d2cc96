/**
 * Raw `ws` with a JSON echo: the limit. A broadcast is encoded once and written to every other member
 * of the room. `BENCH_WS_HEARTBEAT_MS` turns on the heartbeat ws's README recommends (a ping every
 * interval; a client that has not answered the previous one is terminated), for the chat scenario.
 */
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { listenOnLoopback, serveBench } from './child.js'
import { EchoRooms, type BenchRequest, type EchoPeer } from './echo.js'

interface WsPeer extends EchoPeer {
  readonly socket: WebSocket
}

serveBench(async () => {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  const rooms = new EchoRooms<WsPeer>()
  const alive = new WeakMap<WebSocket, boolean>()
  let connections = 0
  wss.on('connection', (socket: WebSocket) => {
    const peer: WsPeer = {
      id: String(++connections),
      socket,
      reply: (message) => socket.send(JSON.stringify(message)),
      broadcast: (message, members) => {
        const json = JSON.stringify(message)
        for (const member of members) member.socket.send(json)
      }
    }
    alive.set(socket, true)
    socket.on('pong', () => alive.set(socket, true))
    socket.on('message', (data) => rooms.answer(JSON.parse(String(data)) as BenchRequest, peer))
    socket.on('close', () => rooms.leaveAll(peer))
  })
  const heartbeatMs = Number(process.env.BENCH_WS_HEARTBEAT_MS ?? 0)
  if (heartbeatMs > 0) {
    const heartbeat = setInterval(() => {
      for (const socket of wss.clients) {
        if (alive.get(socket) === false) {
          socket.terminate()
          continue
        }
        alive.set(socket, false)
        socket.ping()
      }
    }, heartbeatMs)
    wss.on('close', () => clearInterval(heartbeat))
  }
  return { port: await listenOnLoopback(server), connections: () => wss.clients.size }
})
