/**
 * No loss while connected (issue 19, item 1), on Redis with history on: a member that stays connected
 * gets every room message said meanwhile, once, in order, through a killed subscriber, or is told
 * `recovered: false` for that room; members on the sender's node get it without waiting for pub/sub;
 * a `say` is answered OK only once the message is stored.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type RoomRecovery } from '../lib/client/node.js'
import type { ActionheroWsOptions } from '../lib/index.js'
import { redisCommand } from '../bench/load/redis-cluster.js'
import { needRedis, SHARED_REDIS, sharedPrefix } from './cluster-helpers.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { rejectsWithin, startApp, TestClient, waitFor, type RunningApp } from './helpers.js'

const ROOM = 'defaultRoom'

/** Apps of one cluster on the shared Redis under a prefix of their own; their keys go when the test ends. */
function clusterOn (t: TestContext): { prefix: string, node: (options?: ActionheroWsOptions) => Promise<RunningApp> } {
  const prefix = sharedPrefix(t)
  return { prefix, node: async (options = {}) => await startApp(t, { ...options, redis: { url: SHARED_REDIS, prefix, heartbeatInterval: 250, nodeTimeout: 1500 } }) }
}

async function member (t: TestContext, url: string): Promise<TestClient> {
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'roomAdd', room: ROOM })).status, 'OK')
  return client
}

/** Kills the subscriber connections of this test's nodes only (they are named), by id: other tests on the shared Redis are untouched. */
async function killSubscribers (prefix: string): Promise<number> {
  const ids = String(await redisCommand(SHARED_REDIS, 'CLIENT', 'LIST')).split('\n')
    .filter((line) => line.includes(` name=${prefix}node:`) && line.includes(':subscriber '))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string)
  for (const id of ids) await redisCommand(SHARED_REDIS, 'CLIENT', 'KILL', 'ID', id)
  return ids.length
}

const heard = (client: TestClient, text: string): boolean => client.messages.some((m) => m.context === 'user' && m.message === text)
const toldLost = (client: TestClient): boolean => client.messages.some((m) => m.context === 'room' && m.event === 'recovered' && m.room === ROOM && m.recovered === false)

test('subscribers killed (CLIENT KILL): a message said at once reaches a member on the sender\'s node; members elsewhere get it or recovered: false', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = clusterOn(t)
  const one = await cluster.node()
  const two = await cluster.node()
  const sender = await member(t, one.url)
  const near = await member(t, one.url)
  const far = await member(t, two.url)
  assert.equal((await sender.request({ event: 'say', room: ROOM, message: 'warm-up' })).status, 'OK')
  await waitFor(() => heard(near, 'warm-up') && heard(far, 'warm-up'), 10_000)

  assert.equal(await killSubscribers(cluster.prefix), 2, 'one subscriber per node')
  const reply = await sender.request({ event: 'say', room: ROOM, message: 'said at once' })
  assert.equal(reply.status, 'OK')
  await near.next((m) => m.context === 'user' && m.message === 'said at once', 10_000)
  await waitFor(() => heard(far, 'said at once') || toldLost(far), 10_000)
  assert.ok(heard(far, 'said at once'), 'the history covers the gap: the far member got the message, not a loss notice')
  // Nothing twice, in order.
  for (const client of [near, far]) {
    const offsets = client.messages.filter((m) => m.context === 'user').map((m) => m.offset as number)
    assert.deepEqual(offsets, [1, 2], 'every offset once, in order')
  }
})

test('Redis away (history on): a say is refused with the protocol\'s error and reaches nobody, not even this node\'s members', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const proxy = await FaultProxy.start(6379)
  t.after(() => proxy.close())
  const running = await startApp(t, { redis: { url: proxy.url, prefix: sharedPrefix(t), heartbeatInterval: 250, nodeTimeout: 5000, requestTimeout: 500 } })
  const sender = await member(t, running.url)
  const near = await member(t, running.url)
  proxy.cut(':command')
  // Once the node knows Redis is away, a command fails at once rather than waiting for its deadline.
  await waitFor(() => rejectsWithin(running.app.actionheroWs.rooms.exists(ROOM), 200), 10_000)
  const refused = await sender.request({ event: 'say', room: ROOM, message: 'refused' })
  assert.equal(refused.error, 'the cluster could not be reached; try again')
  proxy.heal()
  await waitFor(async () => (await sender.request({ event: 'say', room: ROOM, message: 'marker' })).status === 'OK', 10_000)
  await near.next((m) => m.message === 'marker', 10_000)
  assert.equal(heard(near, 'refused'), false, 'had it been delivered, it would be here before the marker')
})

test('a gap the history cannot cover while connected: the member is told recovered: false for the room, and the client emits it', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const prefix = sharedPrefix(t)
  const options = { history: { size: 3 } }
  const redis = { prefix, heartbeatInterval: 250, nodeTimeout: 5000, requestTimeout: 500 }
  const one = await startApp(t, { ...options, redis: { url: SHARED_REDIS, ...redis } })
  const proxy = await FaultProxy.start(6379)
  t.after(() => proxy.close())
  const two = await startApp(t, { ...options, redis: { url: proxy.url, ...redis } })
  const sender = await member(t, one.url)
  const client = new ActionheroClient({ url: two.url })
  t.after(() => client.disconnect())
  const said: unknown[] = []
  const recoveries: RoomRecovery[] = []
  client.on('say', (message) => said.push(message.message))
  client.on('recovered', (recovery) => recoveries.push(recovery))
  await client.connect()
  await client.roomAdd(ROOM)
  await sender.request({ event: 'say', room: ROOM, message: 'before' })
  await waitFor(() => said.includes('before'))
  // Node two's subscriber is cut while ten messages are said: more than the history keeps.
  proxy.cut(':subscriber')
  for (let n = 0; n < 10; n++) await sender.request({ event: 'say', room: ROOM, message: `missed ${n}` })
  proxy.heal()
  await waitFor(() => recoveries.length === 1, 20_000)
  assert.deepEqual(recoveries, [{ room: ROOM, recovered: false }])
  assert.equal(client.state, 'connected', 'told while it stayed connected')
  await sender.request({ event: 'say', room: ROOM, message: 'after' })
  await waitFor(() => said.includes('after'), 10_000)
  assert.ok(said.indexOf('after') > said.indexOf('before'))
})
