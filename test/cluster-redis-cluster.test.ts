/**
 * Scale-out on a Redis Cluster of three masters the test starts itself: the plugin's scripts run there
 * (every key in KEYS, one hash tag), room traffic goes over sharded pub/sub to the shard that owns the
 * room only, and the main faults heal as on one Redis.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Cluster, type Redis } from 'ioredis'
import type { RedisOptions } from '../lib/index.js'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import { createCluster, needRedisServer, startRedisCluster, uniquePrefix } from './cluster-helpers.js'
import { assertDropped, GARBAGE, healed, reaped, report, startScenario } from './fault-scenario.js'
import { startApp, TestClient } from './helpers.js'

async function onRedisCluster (t: TestContext) {
  const redis = await startRedisCluster(t)
  const prefix = uniquePrefix()
  const scenario = await startScenario(t, createCluster(t, { prefix, redis: { cluster: redis.nodes } }))
  return { redis, prefix, scenario, schema: new RedisSchema(prefix) }
}

test('Redis Cluster: rooms, send and sendToFingerprint work; a room\'s traffic is subscribed on the shard that owns it only', { timeout: 90_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const { redis, scenario, schema } = await onRedisCluster(t)
  report(t, 'Redis Cluster, no fault', await healed(scenario, [0, 1, 2]))
  const rooms = [schema.roomChannel('defaultRoom'), schema.roomChannel('anotherRoom')]
  const shards = await redis.onEveryMaster('PUBSUB', 'SHARDCHANNELS', `${scenario.cluster.prefix}*`) as string[][]
  const [slots] = await redis.onEveryMaster('CLUSTER', 'SLOTS') as Array<Array<[number, number, [string, number]]>>
  for (const channel of rooms) {
    const [slot] = await redis.onEveryMaster('CLUSTER', 'KEYSLOT', channel) as number[]
    const owner = slots!.find(([first, last]) => first <= slot! && slot! <= last)![2][1]
    const subscribedOn = redis.nodes.filter((_, n) => shards[n]!.includes(channel)).map(({ port }) => port)
    assert.deepEqual(subscribedOn, [owner], `${channel} is subscribed on the shard that owns its slot, and only there`)
  }
  const counts = await redis.onEveryMaster('PUBSUB', 'SHARDNUMSUB', rooms[0]!) as Array<[string, number]>
  assert.deepEqual(counts.map(([, count]) => count).sort(), [0, 0, 3], 'the three nodes subscribe to the room on its shard')
})

test('Redis Cluster: a node stopped past nodeTimeout comes back; a node killed is reaped', { timeout: 90_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const { scenario } = await onRedisCluster(t)
  scenario.nodes[1]!.process.kill('SIGSTOP')
  await reaped(scenario, 0, 1)
  scenario.nodes[1]!.process.kill('SIGCONT')
  report(t, 'Redis Cluster, SIGSTOP past nodeTimeout then SIGCONT', await healed(scenario, [0, 1, 2]))
  await scenario.nodes[2]!.stop('SIGKILL')
  report(t, 'Redis Cluster, SIGKILL', await healed(scenario, [0, 1]))
})

test('Redis Cluster: the subscribers killed on every shard, then garbage on every shard channel', { timeout: 90_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const { redis, scenario } = await onRedisCluster(t)
  await redis.onEveryMaster('CLIENT', 'KILL', 'TYPE', 'pubsub')
  report(t, 'Redis Cluster, CLIENT KILL of the subscribers', await healed(scenario, [0, 1, 2]))
  const channels = (await redis.onEveryMaster('PUBSUB', 'SHARDCHANNELS', `${scenario.cluster.prefix}*`) as string[][]).flat()
  const publisher = new Cluster(redis.nodes)
  publisher.on('error', () => {})
  for (const channel of channels) for (const message of GARBAGE) await publisher.spublish(channel, message)
  publisher.disconnect()
  report(t, 'Redis Cluster, garbage on every shard channel', await healed(scenario, [0, 1, 2]))
  assertDropped(scenario, channels)
})

test('Redis Cluster: an ioredis Cluster of the app\'s as `client` works beside `redis.cluster`, and keeps no listener of the plugin', { timeout: 60_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const redis = await startRedisCluster(t)
  const prefix = uniquePrefix()
  const client = new Cluster(redis.nodes)
  client.on('error', () => {})
  t.after(() => client.disconnect())
  const listeners = (): number => ['error', 'close', 'ready', 'smessage'].reduce((sum, event) => sum + client.listenerCount(event), 0)
  // Counted once the client is up: ioredis adds listeners of its own while it connects.
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve))
  const before = listeners()
  const a = await startApp(t, { redis: { client, prefix } })
  const b = await startApp(t, { redis: { cluster: redis.nodes, prefix } })
  const onA = await TestClient.connect(t, a.url)
  const onB = await TestClient.connect(t, b.url)
  for (const member of [onA, onB]) assert.equal((await member.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  assert.equal((await a.app.actionheroWs.rooms.view('defaultRoom')).membersCount, 2)
  await onA.request({ event: 'say', room: 'defaultRoom', message: 'over a shard' })
  await onB.next((message) => message.context === 'user' && message.message === 'over a shard')
  assert.ok(listeners() > before)
  await a.app.close()
  assert.equal(listeners(), before, 'everything the plugin added to the app\'s Cluster is removed at close')
  assert.equal(client.status, 'ready', 'and the app\'s Cluster stays open')
})

// The types accept what the docs promise: an ioredis Redis and an ioredis Cluster as `redis.client`.
const accepted: Array<RedisOptions['client']> = [undefined as unknown as Redis, undefined as unknown as Cluster]
assert.equal(accepted.length, 2)
