/**
 * This plugin, built (`dist/`): Fastify with fastify-actionhero-ws and its defaults, one trivial
 * action, the room of the `say` scenarios, the rooms of the chat scenario and the presence room. `clientJsName: null`: no client file is written at boot.
 * `BENCH_REDIS` (JSON of the `redis` option) makes it a node of a cluster, for bench/cluster.ts;
 * `BENCH_HISTORY=false` turns room history off (the `pluginNoHistory` target), `BENCH_METRICS=true` turns
 * the Prometheus metrics on (the `pluginMetrics` target). `broadcastMany` (over HTTP) broadcasts
 * `count` messages to the bench room from inside the node, `window` at a time, for bench/emitter.ts.
 */
import Fastify from 'fastify'
import actionheroWs, { defineAction, type Connection, type RedisOptions } from '../../lib/index.js'
import { CHAT_ROOM_COUNT, PRESENCE_ROOM, ROOM, chatRoom, heartbeatOff } from '../config.js'
import { repeatConcurrently } from '../load/scenario.js'
import { serveBench } from './child.js'

const echo = defineAction({
  name: 'echo',
  inputs: { type: 'object', properties: { t: { type: 'number' }, text: { type: 'string' } } } as const,
  run: ({ t, text }) => ({ t, text })
})

serveBench(async () => {
  const app = Fastify({ logger: false })
  const redis = process.env.BENCH_REDIS === undefined ? undefined : JSON.parse(process.env.BENCH_REDIS) as RedisOptions
  const history = process.env.BENCH_HISTORY === 'false' ? false : undefined
  const metrics = process.env.BENCH_METRICS === 'true'
  // The benchmark's sender says as fast as its members hear it: a flood the say budget would refuse.
  // Presence in its own room only (the presence scenario): the other scenarios measure the rooms without it.
  const roomNames = [ROOM, PRESENCE_ROOM, ...Array.from({ length: CHAT_ROOM_COUNT }, (_, i) => chatRoom(i))]
  const heartbeat = heartbeatOff() ? { server: { pingInterval: false as const } } : {}
  // In the presence room, a visitor with a fingerprint is one person; the 5,000 members without are 100
  // people of 50 tabs (by source port), so that filling the room tells 100 joins, not one per member.
  const presence = { rooms: [PRESENCE_ROOM], key: (connection: Connection) => connection.fingerprint ?? `member-${connection.remotePort % 100}` }
  await app.register(actionheroWs, { clientJsName: null, rooms: roomNames, presence, actions: [echo], redis, history, metrics, sayLimit: false, ...heartbeat })
  const { rooms } = app.actionheroWs
  app.actionheroWs.addAction(defineAction({
    name: 'broadcastMany',
    inputs: { type: 'object', properties: { count: { type: 'number' }, window: { type: 'number' } }, required: ['count', 'window'] } as const,
    run: async ({ count, window }) => {
      let n = 0
      await repeatConcurrently(count, window, () => rooms.broadcast(ROOM, `broadcast ${n++}`))
      return { count }
    }
  }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a port')
  return { port: address.port, connections: () => app.actionheroWs.connections.size }
})
