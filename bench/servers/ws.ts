/**
 * Raw `ws` with a JSON echo: the limit. A broadcast is encoded once and written to every other client.
 */
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { listenOnLoopback, serveBench } from './child.js'
import { answer, type BenchRequest, type EchoPeer } from './echo.js'

serveBench(async () => {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  let connections = 0
  wss.on('connection', (socket: WebSocket) => {
    const peer: EchoPeer = {
      id: String(++connections),
      reply: (message) => socket.send(JSON.stringify(message)),
      broadcast: (message) => {
        const json = JSON.stringify(message)
        for (const client of wss.clients) if (client !== socket) client.send(json)
      }
    }
    socket.on('message', (data) => answer(JSON.parse(String(data)) as BenchRequest, peer))
  })
  return { port: await listenOnLoopback(server), connections: () => wss.clients.size }
})
