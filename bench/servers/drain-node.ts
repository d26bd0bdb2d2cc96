/**
 * One node of `npm run bench:drain`: Fastify with the plugin on Redis (`BENCH_REDIS`, JSON of the
 * `redis` option), room history on, the bench's room, and `drain` from `BENCH_DRAIN` (JSON, or `false`). It records
 * when each connection opened and answers them over IPC (`'handshakes'`); SIGTERM closes it, drain
 * and all, then it exits.
 */
import Fastify from 'fastify'
import actionheroWs, { type RedisOptions } from '../../lib/index.js'

const redis = JSON.parse(process.env.BENCH_REDIS ?? 'null') as RedisOptions
const drain = JSON.parse(process.env.BENCH_DRAIN ?? 'false') as false | { batchSize?: number, intervalMs?: number }
const app = Fastify({ logger: false })
// The bench's sender says faster than the say budget lets a chat.
await app.register(actionheroWs, { clientJsName: null, redis, drain, sayLimit: false, history: { size: 1000 }, rooms: ['drain'] })
/** When each connection opened (ms since the epoch, comparable across the nodes), the latest 100,000. */
const handshakes: number[] = []
app.actionheroWs.addHook('onConnect', () => {
  if (handshakes.push(Date.now()) > 100_000) handshakes.shift()
})
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
process.on('message', (message) => {
  if (message === 'handshakes') process.send?.({ handshakes })
})
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
