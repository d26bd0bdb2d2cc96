/**
 * Scale-out on a Redis Cluster of three masters the test starts itself: the plugin's scripts run there
 * (every key in KEYS, one hash tag), room traffic goes over sharded pub/sub to the shard that owns the
 * room only, and the main faults heal as on one Redis.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Cluster } from 'ioredis'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import { createCluster, needRedisServer, startRedisCluster, uniquePrefix } from './cluster-helpers.js'
import { assertDropped, GARBAGE, healed, reaped, report, startScenario } from './fault-scenario.js'

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
