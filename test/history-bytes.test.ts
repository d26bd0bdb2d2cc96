/**
 * History bounded in bytes (issue 18, item 3, the store side): `history.maxBytes` per room (1 MiB by
 * default), in memory and in Redis, so that one member cannot park 100 x 1 MiB per room; a message over
 * `server.maxLength` is delivered but never kept, and a member who missed it is told `recovered: false`
 * rather than given a silent hole; what the history keeps is what was said, whatever changes its object.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import type { ActionheroWsOptions } from '../lib/index.js'
import { MemoryHistory } from '../lib/rooms/history.js'
import { needRedis, SHARED_REDIS, sharedPrefix } from './cluster-helpers.js'
import { startApp, TestClient } from './helpers.js'

type Message = Record<string, unknown>
const ROOM = 'defaultRoom'
const MiB = 1024 * 1024

/** Options for one process (memory) or a node on the shared Redis under a prefix of its own, removed at the end. */
function stores (t: TestContext): Array<[string, () => Promise<ActionheroWsOptions>]> {
  return [
    ['memory', async () => ({})],
    ['Redis', async () => {
      const prefix = sharedPrefix(t)
      return { redis: { url: SHARED_REDIS, prefix } }
    }]
  ]
}

async function joined (t: TestContext, url: string, since?: unknown): Promise<{ client: TestClient, reply: Message }> {
  const client = await TestClient.connect(t, url)
  const reply = await client.request({ event: 'roomAdd', room: ROOM, since })
  assert.equal(reply.error, undefined)
  return { client, reply }
}

test('100 says of almost 1 MiB park at most history.maxBytes (1 MiB by default) per room, in memory and in Redis', { timeout: 120_000 }, async (t) => {
  for (const [name, options] of stores(t)) {
    await t.test(name, async (t) => {
      if (name === 'Redis' && !await needRedis(t)) return
      // The say budget (sayLimit) would refuse this flood first: off, so that the history's own bound is what is shown.
      const { url } = await startApp(t, { ...await options(), sayLimit: false })
      const { client: parker } = await joined(t, url)
      const big = 'x'.repeat(MiB - 1024)
      for (let i = 0; i < 100; i++) assert.equal((await parker.request({ event: 'say', room: ROOM, message: `${i}${big}` })).status, 'OK')
      const kept = (await parker.request({ event: 'roomHistory', room: ROOM })).data as Message[]
      const bytes = kept.reduce((sum, message) => sum + Buffer.byteLength(JSON.stringify(message)), 0)
      assert.ok(bytes <= MiB, `${bytes} bytes kept for the room`)
      assert.deepEqual(kept.map((message) => (message.message as string).slice(0, 2)), ['99'], 'the newest is kept')
    })
  }
})

test('in Redis the byte count of a room is kept with its position, and the list never holds more', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const prefix = sharedPrefix(t)
  const redis = new Redis(SHARED_REDIS)
  t.after(() => redis.disconnect())
  const { url } = await startApp(t, { redis: { url: SHARED_REDIS, prefix }, history: { maxBytes: 2000 }, sayLimit: false })
  const { client } = await joined(t, url)
  for (let i = 0; i < 20; i++) await client.request({ event: 'say', room: ROOM, message: `${i}`.padEnd(300, '.') })
  const schema = new RedisSchema(prefix)
  const entries = await redis.lrange(schema.historyMessages(ROOM), 0, -1)
  const held = entries.reduce((sum, entry) => sum + Buffer.byteLength(entry), 0)
  assert.ok(held <= 2000 && held > 2000 - 500, `${held} bytes held`)
  assert.equal(Number(await redis.hget(schema.historyPosition(ROOM), 'bytes')), held, 'the count matches the list')
  assert.equal(await redis.hget(schema.historyPosition(ROOM), 'offset'), '20')
})

test('a broadcast over server.maxLength is delivered, not kept; a member who missed it recovers with recovered: false', { timeout: 120_000 }, async (t) => {
  for (const [name, options] of stores(t)) {
    await t.test(name, async (t) => {
      if (name === 'Redis' && !await needRedis(t)) return
      const { app, url } = await startApp(t, { ...await options(), server: { maxLength: 10_000 } })
      const { client: listener, reply } = await joined(t, url)
      const { client: leaving } = await joined(t, url)
      await listener.request({ event: 'say', room: ROOM, message: 'small' })
      await leaving.next((m) => m.message === 'small')
      leaving.end()
      const huge = 'y'.repeat(20_000)
      await app.actionheroWs.rooms.broadcast(ROOM, huge)
      const heard = await listener.next((m) => m.context === 'user' && m.message === huge)
      assert.equal(heard.offset, 2, 'it takes its offset')
      await listener.request({ event: 'say', room: ROOM, message: 'after' })
      const kept = (await listener.request({ event: 'roomHistory', room: ROOM })).data as Message[]
      assert.deepEqual(kept.map((m) => [m.offset, m.message]), [[1, 'small'], [3, 'after']], 'not kept')
      const { client: back, reply: rejoined } = await joined(t, url, { epoch: reply.epoch, offset: 1 })
      assert.equal(rejoined.recovered, false, 'the hole is not hidden')
      assert.deepEqual(back.messages.filter((m) => m.context === 'user'), [], 'nothing replayed')
      const { reply: after } = await joined(t, url, { epoch: reply.epoch, offset: 2 })
      assert.equal(after.recovered, true, 'after the hole, the history covers')
    })
  }
})

test('the memory history keeps what was said: an object changed after it was said does not change the history', async () => {
  const history = new MemoryHistory({ size: 10, ttl: 60_000, maxBytes: MiB })
  const said = { text: 'original' }
  const { item } = history.append(ROOM, { context: 'user', room: ROOM, from: 'a', message: said, sentAt: 1 })
  said.text = 'changed by the app'
  ;(item.message as { text: string }).text = 'changed by a middleware'
  const [kept] = await history.recent(ROOM, 1)
  assert.deepEqual(kept?.message, { text: 'original' })
  const [again] = await history.recent(ROOM, 1)
  assert.notEqual(again, kept, 'each reader gets its own copy')
})
