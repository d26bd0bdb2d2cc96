/**
 * The fault matrix of docs/FAULTS.md: for each fault, on three node processes, once it heals the
 * cluster is exact again (see fault-scenario.ts) within heartbeatInterval + nodeTimeout, and no node
 * process exited or saw an unhandled rejection. Each test reports its measured heal time.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import type { RoomMembers } from '../lib/index.js'
import { createCluster, needRedis, needRedisServer, startOwnRedis } from './cluster-helpers.js'
import { redisCommand } from '../bench/load/redis-cluster.js'
import { assertDropped, GARBAGE, healed, reaped, report, startScenario, TIMING } from './fault-scenario.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { waitFor } from './helpers.js'

test('fault: a node stopped (SIGSTOP) for longer than nodeTimeout comes back into every room', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t)) return
  const scenario = await startScenario(t, createCluster(t))
  const stalled = scenario.nodes[1]!
  stalled.process.kill('SIGSTOP')
  await reaped(scenario, 0, 1)
  stalled.process.kill('SIGCONT')
  report(t, 'SIGSTOP past nodeTimeout, then SIGCONT', await healed(scenario, [0, 1, 2]))
})

test('fault: a node killed (SIGKILL): its members are gone from every room, the others unaffected', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t)) return
  const scenario = await startScenario(t, createCluster(t))
  await scenario.nodes[2]!.stop('SIGKILL')
  report(t, 'SIGKILL', await healed(scenario, [0, 1]))
  assert.equal(await scenario.nodes[0]!.call('send', { id: scenario.members[4]!.id, message: { text: 'anyone?' } }), false)
})

test('fault: garbage on every channel under the prefix is logged with its channel and dropped', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const scenario = await startScenario(t, cluster)
  const redis = new Redis(cluster.redisUrl)
  t.after(() => redis.disconnect())
  const channels = await redis.pubsub('CHANNELS', `${cluster.prefix}*`) as string[]
  assert.ok(channels.includes(new RedisSchema(cluster.prefix).roomChannel('defaultRoom')), 'the room channels are among them')
  for (const channel of channels) for (const message of GARBAGE) await redis.publish(channel, message)
  report(t, 'garbage on every channel', await healed(scenario, [0, 1, 2]))
  assertDropped(scenario, channels)
})

test('fault: Redis restarted empty: every node writes its rooms, members and connections back', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const scenario = await startScenario(t, createCluster(t, { redisUrl: redis.url }))
  await redis.kill()
  await redis.start()
  report(t, 'Redis restarted empty', await healed(scenario, [0, 1, 2]))
})

test('fault: Redis restarted with its data (RDB), a node killed meanwhile: its members are reaped, the rest is exact', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const scenario = await startScenario(t, createCluster(t, { redisUrl: redis.url }))
  await redis.kill({ keepData: true })
  await scenario.nodes[2]!.stop('SIGKILL')
  await redis.start()
  report(t, 'Redis restarted with its data, a node killed meanwhile', await healed(scenario, [0, 1]))
})

test('fault: the subscribers killed (CLIENT KILL TYPE pubsub): they resubscribe and the cluster is exact', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const scenario = await startScenario(t, createCluster(t, { redisUrl: redis.url }))
  assert.equal(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub') as number >= 3, true, 'one subscriber per node, at least')
  report(t, 'CLIENT KILL of the subscribers', await healed(scenario, [0, 1, 2]))
})

test('fault: every node\'s connections killed by the names they set (CLIENT KILL ID), on the shared Redis', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const scenario = await startScenario(t, cluster)
  const ours = String(await redisCommand(cluster.redisUrl, 'CLIENT', 'LIST')).split('\n')
    .filter((line) => line.includes(` name=${cluster.prefix}node:`))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string)
  assert.equal(ours.length, 6, 'a command and a subscriber connection per node, named')
  for (const id of ours) await redisCommand(cluster.redisUrl, 'CLIENT', 'KILL', 'ID', id)
  report(t, 'CLIENT KILL of every connection of the nodes', await healed(scenario, [0, 1, 2]))
})

test('fault: Redis asleep (DEBUG SLEEP) for longer than nodeTimeout', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const scenario = await startScenario(t, createCluster(t, { redisUrl: redis.url }))
  await redis.command('DEBUG', 'SLEEP', (TIMING.nodeTimeout * 1.5) / 1000)
  report(t, 'DEBUG SLEEP past nodeTimeout', await healed(scenario, [0, 1, 2]))
})

async function proxied (t: TestContext) {
  const redis = await startOwnRedis(t)
  const proxies = await Promise.all([0, 1, 2].map(() => FaultProxy.start(redis.port)))
  t.after(() => Promise.all(proxies.map((proxy) => proxy.close())))
  const scenario = await startScenario(t, createCluster(t, { redisUrl: redis.url }), (n) => proxies[n]!.url)
  return { redis, proxies, scenario }
}

test('fault: a node cut off from Redis past nodeTimeout; a room destroyed meanwhile stays destroyed', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const { proxies, scenario } = await proxied(t)
  await scenario.nodes[0]!.call('add', { room: 'doomed' })
  const [onCut] = scenario.members.filter((member) => member.node === 1)
  assert.equal((await onCut!.client.request({ event: 'roomAdd', room: 'doomed' })).data, true)
  proxies[1]!.cut()
  await reaped(scenario, 0, 1)
  assert.equal(await scenario.nodes[0]!.call('destroy', { room: 'doomed' }), true)
  proxies[1]!.heal()
  report(t, 'a node cut off from Redis past nodeTimeout', await healed(scenario, [0, 1, 2]))
  assert.deepEqual((await scenario.nodes[2]!.call<string[]>('list')).sort(), ['anotherRoom', 'defaultRoom'], 'the destroyed room did not come back')
  await waitFor(async () => !((await onCut!.client.request({ event: 'detailsView' })).data as { rooms: string[] }).rooms.includes('doomed'))
  await assert.rejects(scenario.nodes[1]!.call<RoomMembers>('view', { room: 'doomed' }), /room does not exist/)
})

test('fault: one node\'s subscriber cut off while a room of its is destroyed: the room stays destroyed, its members there leave it', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const { proxies, scenario } = await proxied(t)
  await scenario.nodes[0]!.call('add', { room: 'doomed' })
  const onCut = scenario.members.find((member) => member.node === 1)!
  assert.equal((await onCut.client.request({ event: 'roomAdd', room: 'doomed' })).data, true)
  // Only the subscriber: the node's commands and heartbeats go on, so nobody reaps it.
  proxies[1]!.cut(':subscriber')
  assert.equal(await scenario.nodes[0]!.call('destroy', { room: 'doomed' }), true)
  proxies[1]!.heal()
  report(t, 'a node\'s subscriber cut off, a room destroyed meanwhile', await healed(scenario, [0, 1, 2]))
  await waitFor(async () => !((await onCut.client.request({ event: 'detailsView' })).data as { rooms: string[] }).rooms.includes('doomed'))
  assert.deepEqual((await scenario.nodes[1]!.call<string[]>('list')).sort(), ['anotherRoom', 'defaultRoom'], 'the destroyed room did not come back')
})

test('fault: a node\'s network to Redis stalled past nodeTimeout, then released', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const { proxies, scenario } = await proxied(t)
  proxies[2]!.stall()
  await reaped(scenario, 0, 2)
  proxies[2]!.heal()
  report(t, 'a node\'s network stalled past nodeTimeout', await healed(scenario, [0, 1, 2]))
})

test('fault: 100 ms of latency between every node and Redis: everything still works', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const { proxies, scenario } = await proxied(t)
  for (const proxy of proxies) proxy.delay(100)
  report(t, '100 ms latency to Redis (time for the checks to pass)', await healed(scenario, [0, 1, 2]))
})
