/**
 * Primus with a JSON echo: the plugin's substrate (transformer `websockets`, parser JSON, its default
 * heartbeat), alone. A broadcast is Primus's own: `write` to each other member of the room.
 */
import { createRequire } from 'node:module'
import { createServer, type Server } from 'node:http'
import type { PrimusServer, Spark } from '../../lib/primus.js'
import { heartbeatOff } from '../config.js'
import { listenOnLoopback, serveBench } from './child.js'
import { EchoRooms, type BenchRequest, type EchoPeer } from './echo.js'

type PrimusConstructor = new (server: Server, options: Record<string, unknown>) => PrimusServer
const Primus = createRequire(import.meta.url)('primus') as PrimusConstructor

interface SparkPeer extends EchoPeer {
  readonly spark: Spark
}

serveBench(async () => {
  const server = createServer()
  // Primus reads `pingInterval` only when the key is there: leave it out for the default.
  const primus = new Primus(server, { transformer: 'websockets', parser: 'JSON', pathname: '/primus', ...(heartbeatOff() ? { pingInterval: false } : {}) })
  const rooms = new EchoRooms<SparkPeer>()
  primus.on('connection', (spark) => {
    const peer: SparkPeer = {
      id: spark.id,
      spark,
      reply: (message) => spark.write(message),
      broadcast: (message, members) => { for (const member of members) member.spark.write(message) }
    }
    spark.on('data', (request) => rooms.answer(request as BenchRequest, peer))
    spark.on('end', () => rooms.leaveAll(peer))
  })
  return { port: await listenOnLoopback(server), connections: () => primus.connected }
})
