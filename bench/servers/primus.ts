/**
 * Primus with a JSON echo: the plugin's substrate (transformer `websockets`, parser JSON), alone.
 * A broadcast is Primus's own: `forEach` over the sparks, `write` to each.
 */
import { createRequire } from 'node:module'
import { createServer, type Server } from 'node:http'
import type { PrimusServer } from '../../lib/primus.js'
import { listenOnLoopback, serveBench } from './child.js'
import { answer, type BenchRequest, type EchoPeer } from './echo.js'

type PrimusConstructor = new (server: Server, options: Record<string, unknown>) => PrimusServer
const Primus = createRequire(import.meta.url)('primus') as PrimusConstructor

serveBench(async () => {
  const server = createServer()
  const primus = new Primus(server, { transformer: 'websockets', parser: 'JSON', pathname: '/primus' })
  primus.on('connection', (spark) => {
    const peer: EchoPeer = {
      id: spark.id,
      reply: (message) => spark.write(message),
      broadcast: (message) => primus.forEach((member) => { if (member !== spark) member.write(message) })
    }
    spark.on('data', (request) => answer(request as BenchRequest, peer))
  })
  return { port: await listenOnLoopback(server), connections: () => primus.connected }
})
