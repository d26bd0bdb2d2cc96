/**
 * Room history with the Redis store (issue 12): one sequence per room for every node, in the order
 * every node delivers; a replay from any node, after the node that heard the messages is gone;
 * bounded by size and ttl in Redis, keys gone after a silent ttl; and Redis restarted empty gives
 * `recovered: false` and a new epoch.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import type { ActionheroWsOptions } from '../lib/index.js'
import { HISTORY_READ, RedisSchema } from '../lib/cluster/redis-schema.js'
import { keysUnder, needRedis, SHARED_REDIS, startOwnRedis, uniquePrefix } from './cluster-helpers.js'
import { startApp, TestClient, waitFor, type RunningApp } from './helpers.js'

type Message = Record<string, unknown>
const ROOM = 'defaultRoom'

/**
 * Apps of one cluster on `url` under a prefix of their own. On the shared Redis their keys are
 * deleted when the test ends; a Redis of the test's own goes with its data.
 */
function clusterOn (t: TestContext, url = SHARED_REDIS): { prefix: string, node: (options?: ActionheroWsOptions) => Promise<RunningApp> } {
  const prefix = uniquePrefix()
  if (url === SHARED_REDIS) {
    t.after(async () => {
      const keys = await keysUnder(url, prefix)
      if (keys.length === 0) return
      const client = new Redis(url)
      await client.del(...keys)
      client.disconnect()
    })
  }
  return { prefix, node: async (options = {}) => await startApp(t, { ...options, redis: { url, prefix, heartbeatInterval: 250, nodeTimeout: 1500 } }) }
}

async function member (t: TestContext, url: string, since?: unknown): Promise<{ client: TestClient, reply: Message }> {
  const client = await TestClient.connect(t, url)
  const reply = await client.request({ event: 'roomAdd', room: ROOM, since })
  assert.equal(reply.error, undefined)
  return { client, reply }
}

const chats = (client: TestClient): Message[] => client.messages.filter((m) => m.context === 'user' && m.room === ROOM)

test('every node delivers a room\'s messages in offset order, one sequence for the cluster', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = clusterOn(t)
  // Says from several senders at once, each past the say budget.
  const one = await cluster.node({ sayLimit: false })
  const two = await cluster.node({ sayLimit: false })
  const listeners = [await member(t, one.url), await member(t, two.url)]
  const senders = [(await member(t, one.url)).client, (await member(t, two.url)).client]
  // Both nodes say at once, without waiting for the replies.
  await Promise.all(senders.map((sender, s) => Promise.all(Array.from({ length: 100 }, (_, i) =>
    sender.request({ event: 'say', room: ROOM, message: `${s}:${i}` })))))
  for (const { client, reply } of listeners) {
    await waitFor(() => chats(client).length === 200, 20_000)
    assert.deepEqual(chats(client).map((m) => m.offset), Array.from({ length: 200 }, (_, i) => i + 1))
    assert.ok(chats(client).every((m) => m.epoch === reply.epoch))
  }
  assert.deepEqual(chats(listeners[0]?.client as TestClient), chats(listeners[1]?.client as TestClient), 'the same messages, in the same order')
})

test('a client replays, from another node, what it missed after the node it was on is gone', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = clusterOn(t)
  const one = await cluster.node()
  const two = await cluster.node()
  const { client: leaving, reply } = await member(t, one.url)
  const { client: sender } = await member(t, one.url)
  const senderId = ((await sender.request({ event: 'detailsView' })).data as { id: string }).id
  await sender.request({ event: 'say', room: ROOM, message: 'heard' })
  await leaving.next((m) => m.message === 'heard')
  leaving.end()
  for (const message of ['m1', 'm2', 'm3']) await sender.request({ event: 'say', room: ROOM, message })
  await one.app.close()

  const back = await TestClient.connect(t, two.url)
  const rejoined = await back.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 1 } })
  assert.equal(rejoined.recovered, true)
  assert.deepEqual([rejoined.epoch, rejoined.offset], [reply.epoch, 4])
  assert.deepEqual(chats(back).map((m) => [m.offset, m.message, m.from]), [[2, 'm1', senderId], [3, 'm2', senderId], [4, 'm3', senderId]])
  assert.deepEqual(((await back.request({ event: 'roomHistory', room: ROOM, limit: 2 })).data as Message[]).map((m) => m.message), ['m2', 'm3'])
})

test('Redis holds at most history.size messages per room, none past the ttl, and nothing once the room is silent for the ttl', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = clusterOn(t)
  const node = await cluster.node({ history: { size: 5, ttl: 1000 } })
  const { client: sender, reply } = await member(t, node.url)
  const redis = new Redis(SHARED_REDIS)
  t.after(() => redis.disconnect())
  const schema = new RedisSchema(cluster.prefix)
  for (let i = 0; i < 12; i++) await sender.request({ event: 'say', room: ROOM, message: `m${i}` })
  assert.equal(await redis.llen(schema.historyMessages(ROOM)), 5)
  // A position (every roomAdd asks for one) reads no message; a replay or roomHistory reads them all.
  const read = async (withMessages: string): Promise<unknown[]> => await redis.eval(HISTORY_READ, 2,
    schema.historyPosition(ROOM), schema.historyMessages(ROOM), 'unused-epoch', 1000, withMessages) as unknown[]
  assert.deepEqual((await read('0')).slice(0, 2), [reply.epoch, '12'])
  assert.equal((await read('0')).length, 3)
  assert.equal((await read('1')).length, 3 + 5)
  const ttl = await redis.pttl(schema.historyPosition(ROOM))
  assert.ok(ttl > 0 && ttl <= 1000, `the position expires within the ttl (${ttl} ms)`)
  const late = await TestClient.connect(t, node.url)
  assert.equal((await late.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 6 } })).recovered, false, 'offset 7 is gone')
  assert.deepEqual(chats(late), [])

  await waitFor(async () => await redis.exists(schema.historyPosition(ROOM), schema.historyMessages(ROOM)) === 0, 5000)
  const after = await TestClient.connect(t, node.url)
  const rejoined = await after.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 12 } })
  assert.equal(rejoined.recovered, false, 'a history Redis no longer has starts again')
  assert.notEqual(rejoined.epoch, reply.epoch)
})

test('Redis restarted empty: recovered false and a new epoch', { timeout: 60_000 }, async (t) => {
  const redis = await startOwnRedis(t)
  const cluster = clusterOn(t, redis.url)
  const node = await cluster.node()
  const { client: sender, reply } = await member(t, node.url)
  await sender.request({ event: 'say', room: ROOM, message: 'before' })
  await redis.kill()
  await redis.start()
  // Back when the node has written its rooms back.
  await waitFor(async () => await redis.command('SISMEMBER', new RedisSchema(cluster.prefix).rooms, ROOM) === 1, 20_000)
  const back = await TestClient.connect(t, node.url)
  const rejoined = await back.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 1 } })
  assert.equal(rejoined.recovered, false)
  assert.notEqual(rejoined.epoch, reply.epoch)
  assert.equal(rejoined.offset, 0)
  assert.deepEqual(chats(back), [])
  await sender.request({ event: 'say', room: ROOM, message: 'after' })
  const heard = await back.next((m) => m.message === 'after', 10_000)
  assert.deepEqual([heard.epoch, heard.offset], [rejoined.epoch, 1])
})
