import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import actionheroWs, { type RoomMembers } from '../lib/index.js'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import { createCluster, keysUnder, needRedis, needRedisServer, SHARED_REDIS, startOwnRedis, uniquePrefix } from './cluster-helpers.js'
import { sleep, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>

async function member (t: TestContext, url: string, options: Record<string, unknown> = {}, rooms: string[] = []) {
  const client = await TestClient.connect(t, url, options)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  for (const room of rooms) assert.equal((await client.request({ event: 'roomAdd', room })).data, true, `joined ${room}`)
  return Object.assign(client, { id: data.id })
}

const chat = (room: string, text?: unknown) => (message: Message) =>
  message.context === 'user' && message.room === room && (text === undefined || message.message === text)

test('clients on three nodes chat in one room; roomView counts the members of every node', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const [a, b, c] = await Promise.all([cluster.startNode(), cluster.startNode(), cluster.startNode()])
  const alice = await member(t, a!.url, {}, ['defaultRoom'])
  const bob = await member(t, b!.url, {}, ['defaultRoom'])
  const carol = await member(t, c!.url, {}, ['defaultRoom'])
  const dave = await member(t, c!.url, {}, ['anotherRoom'])

  const view = await bob.request({ event: 'roomView', room: 'defaultRoom' })
  const data = view.data as RoomMembers
  assert.equal(data.membersCount, 3)
  assert.deepEqual(Object.keys(data.members).sort(), [alice.id, bob.id, carol.id].sort())
  assert.equal((await a!.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount, 3)

  await alice.request({ event: 'say', room: 'defaultRoom', message: 'hello from a' })
  assert.equal((await bob.next(chat('defaultRoom', 'hello from a'))).from, alice.id)
  assert.equal((await carol.next(chat('defaultRoom', 'hello from a'))).from, alice.id)
  await sleep(150)
  assert.equal(alice.messages.some(chat('defaultRoom')), false, 'the sender does not hear itself')
  assert.equal(dave.messages.some(chat('defaultRoom')), false, 'a node delivers only to the room\'s members')

  await c!.call('broadcast', { room: 'defaultRoom', message: 'from node c' })
  for (const client of [alice, bob, carol]) assert.equal((await client.next(chat('defaultRoom', 'from node c'))).from, 0)

  await carol.request({ event: 'roomLeave', room: 'defaultRoom' })
  assert.equal((await b!.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount, 2)
  bob.end()
  await waitFor(async () => (await a!.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount === 1)
})

test('a room created on one node can be joined on another; rooms.list and exists answer for the cluster', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const a = await cluster.startNode({ rooms: [] })
  const b = await cluster.startNode({ rooms: [] })
  assert.equal(await a.call('add', { room: 'made-on-a' }), true)
  assert.equal(await b.call('add', { room: 'made-on-a' }), false, 'it already exists for b')
  assert.deepEqual(await b.call('list'), ['made-on-a'])
  const client = await member(t, b.url)
  assert.equal((await client.request({ event: 'roomAdd', room: 'made-on-a' })).data, true)
  assert.equal((await client.request({ event: 'roomAdd', room: 'never-made' })).error, 'room does not exist')
})

test('send, sendToFingerprint, addMember and removeMember reach connections on other nodes', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const [a, b, c] = await Promise.all([cluster.startNode(), cluster.startNode(), cluster.startNode()])
  const cookie = (fingerprint: string) => ({ transport: { headers: { cookie: `sessionID=${fingerprint}` } } })
  const onB = await member(t, b!.url, cookie('visitor'))
  const onC = await member(t, c!.url, cookie('visitor'))
  const stranger = await member(t, c!.url, cookie('stranger'))

  assert.equal(await a!.call('send', { id: onB.id, message: { context: 'alert', text: 'just for b' } }), true)
  assert.deepEqual(await onB.next((message) => message.text === 'just for b'), { context: 'alert', text: 'just for b' })
  assert.equal(await a!.call('send', { id: 'nobody', message: { text: 'lost' } }), false)

  assert.equal(await a!.call('sendToFingerprint', { fingerprint: 'visitor', message: { text: 'both tabs' } }), 2)
  await onB.next((message) => message.text === 'both tabs')
  await onC.next((message) => message.text === 'both tabs')
  assert.equal(await b!.call('sendToFingerprint', { fingerprint: 'visitor', message: { text: 'local and remote' } }), 2)
  await onC.next((message) => message.text === 'local and remote')
  await sleep(100)
  assert.equal(stranger.messages.some((message) => typeof message.text === 'string'), false)

  await a!.call('addMember', { id: onB.id, room: 'anotherRoom' })
  assert.deepEqual(((await onB.request({ event: 'detailsView' })).data as { rooms: string[] }).rooms, ['anotherRoom'])
  assert.equal((await c!.call<RoomMembers>('view', { room: 'anotherRoom' })).membersCount, 1)
  await assert.rejects(a!.call('addMember', { id: onB.id, room: 'anotherRoom' }), /connection already in this room/)
  await assert.rejects(a!.call('addMember', { id: onB.id, room: 'noRoom' }), /room does not exist/)
  await assert.rejects(a!.call('addMember', { id: 'ghost', room: 'anotherRoom' }), /connection ghost is not connected/)
  await a!.call('removeMember', { id: onB.id, room: 'anotherRoom' })
  assert.deepEqual(((await onB.request({ event: 'detailsView' })).data as { rooms: string[] }).rooms, [])
})

test('messages from one sender reach every node in the order sent', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  // 200 says at once: a flood, past the say budget.
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => cluster.startNode({ sayLimit: false })))
  const sender = await member(t, a!.url, {}, ['defaultRoom'])
  const receivers = [await member(t, a!.url, {}, ['defaultRoom']), await member(t, b!.url, {}, ['defaultRoom']), await member(t, c!.url, {}, ['defaultRoom'])]
  const count = 200
  for (let n = 0; n < count; n++) sender.socket.write({ event: 'say', room: 'defaultRoom', message: n })
  for (const receiver of receivers) {
    await waitFor(() => receiver.messages.filter(chat('defaultRoom')).length === count)
    assert.deepEqual(receiver.messages.filter(chat('defaultRoom')).map((message) => message.message), Array.from({ length: count }, (_, n) => n))
  }
})

test('a node killed with SIGKILL: its members leave every room within the bound, and survivors run leave middleware', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const a = await cluster.startNode()
  const doomed = await cluster.startNode()
  const survivor = await member(t, a.url, {}, ['defaultRoom'])
  const victims = [await member(t, doomed.url, {}, ['defaultRoom', 'anotherRoom']), await member(t, doomed.url, {}, ['defaultRoom'])]
  assert.equal((await a.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount, 3)
  const killedAt = Date.now()
  await doomed.stop('SIGKILL')
  await waitFor(async () => (await a.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount === 1, 15_000)
  const elapsed = Date.now() - killedAt
  t.diagnostic(`members of the dead node were gone after ${elapsed} ms (nodeTimeout 1500 ms, heartbeat 250 ms)`)
  assert.deepEqual(Object.keys((await a.call<RoomMembers>('view', { room: 'defaultRoom' })).members), [survivor.id])
  assert.equal((await a.call<RoomMembers>('view', { room: 'anotherRoom' })).membersCount, 0)
  const departures = await a.call<Array<{ id: string, room: string }>>('departures')
  assert.deepEqual(departures.map(({ id, room }) => `${id}:${room}`).sort(),
    [`${victims[0]!.id}:anotherRoom`, `${victims[0]!.id}:defaultRoom`, `${victims[1]!.id}:defaultRoom`].sort())
  assert.equal(await a.call('send', { id: victims[0]!.id, message: { text: 'anyone?' } }), false, 'its connections are forgotten too')
})

test('Redis restarted under a running cluster, history off: local delivery goes on, then the cluster resynchronises', { timeout: 90_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const cluster = createCluster(t, { redisUrl: redis.url })
  const a = await cluster.startNode({ history: false })
  const b = await cluster.startNode({ history: false })
  const a1 = await member(t, a.url, {}, ['defaultRoom'])
  const a2 = await member(t, a.url, {}, ['defaultRoom'])
  const b1 = await member(t, b.url, {}, ['defaultRoom'])

  await redis.kill()
  const outage = await a1.request({ event: 'say', room: 'defaultRoom', message: 'during the outage' })
  assert.equal(outage.error, 'the message reached only the members on this server', 'the sender is told')
  assert.equal((await a2.next(chat('defaultRoom', 'during the outage'))).from, a1.id, 'members on the same node still chat')

  await redis.start()
  // The restarted Redis is empty: the nodes write their rooms and members back.
  await waitFor(async () => {
    try {
      return (await b.call<RoomMembers>('view', { room: 'defaultRoom' })).membersCount === 3
    } catch {
      return false
    }
  }, 30_000)
  await waitFor(async () => {
    await a1.request({ event: 'say', room: 'defaultRoom', message: 'after the restart' })
    await sleep(100)
    return b1.messages.some(chat('defaultRoom', 'after the restart'))
  }, 30_000)
  await b1.request({ event: 'say', room: 'defaultRoom', message: 'and back' })
  await a1.next(chat('defaultRoom', 'and back'))
})

test('two apps with different prefixes on one Redis do not see each other', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const first = createCluster(t)
  const second = createCluster(t)
  const a = await first.startNode({ rooms: ['shared-name'] })
  const b = await second.startNode({ rooms: ['shared-name', 'only-second'] })
  const onA = await member(t, a.url, {}, ['shared-name'])
  const onB = await member(t, b.url, {}, ['shared-name'])
  const alsoB = await member(t, b.url, {}, ['shared-name'])
  assert.deepEqual(await a.call('list'), ['shared-name'])
  assert.equal((await a.call<RoomMembers>('view', { room: 'shared-name' })).membersCount, 1)
  await alsoB.request({ event: 'say', room: 'shared-name', message: 'second app only' })
  await onB.next(chat('shared-name', 'second app only'))
  await sleep(150)
  assert.equal(onA.messages.some(chat('shared-name')), false)
  assert.equal(await a.call('send', { id: onB.id, message: { text: 'across apps' } }), false)
})

test('a node cleans up after itself: no keys of its own remain once it closes', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const node = await cluster.startNode({ rooms: ['lobby'] })
  const client = await member(t, node.url, { transport: { headers: { cookie: 'sessionID=fp' } } }, ['lobby'])
  assert.ok((await keysUnder(SHARED_REDIS, cluster.prefix)).some((key) => key.includes('}node:')))
  client.end()
  await node.stop()
  const schema = new RedisSchema(cluster.prefix)
  const keys = await keysUnder(SHARED_REDIS, cluster.prefix)
  const history = keys.filter((key) => key.startsWith(`${cluster.prefix}history:`))
  assert.deepEqual(keys.filter((key) => !history.includes(key)).sort(), [schema.dataId, schema.rooms].sort(), 'only the room list and the id of Redis\'s data stay, for the next node')
  // And the room's history position (issue 12), which expires on its own once the room is silent.
  const redis = new Redis(SHARED_REDIS)
  t.after(() => redis.disconnect())
  for (const key of history) assert.ok(await redis.pttl(key) > 0, `${key} expires`)
})

test('redis.client: the app\'s client is used and duplicated, and stays open after close', async (t) => {
  if (!await needRedis(t)) return
  const client = new Redis(SHARED_REDIS)
  t.after(() => client.disconnect())
  const prefix = uniquePrefix()
  const app = Fastify()
  await app.register(actionheroWs, { clientJsName: null, redis: { client, prefix } })
  await app.ready()
  assert.equal(await client.sismember(new RedisSchema(prefix).rooms, 'defaultRoom'), 1)
  await app.close()
  assert.equal(client.status, 'ready')
  assert.equal(await client.ping(), 'PONG')
  const keys = await keysUnder(SHARED_REDIS, prefix)
  if (keys.length > 0) await client.del(...keys)
})

test('redis options are checked, and an unreachable Redis fails the boot with a clear error', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ url: 'redis://x', client: {} }, /"redis" option takes one of url, client or cluster/],
    [{ client: 'redis://x' }, /"redis.client" option must be an ioredis client/],
    [{ heartbeatInterval: 5000, nodeTimeout: 1000 }, /"redis.nodeTimeout" option must be longer than redis.heartbeatInterval/],
    [{ host: 'x' }, /"redis.host" option is not a known option/],
    [{ cluster: [] }, /"redis.cluster" option must be a non-empty array of \{ host, port \}/],
    [{ cluster: [{ host: '127.0.0.1', port: 'x' }] }, /"redis.cluster" option must be a non-empty array of \{ host, port \}/],
    [{ url: 'redis://x', cluster: [{ host: '127.0.0.1', port: 7000 }] }, /"redis" option takes one of url, client or cluster/]
  ]
  for (const [redis, message] of cases) {
    const app = Fastify()
    app.register(actionheroWs, { clientJsName: null, redis: redis as never })
    await assert.rejects(async () => { await app.ready() }, message)
    await app.close()
  }
  const app = Fastify()
  app.register(actionheroWs, { clientJsName: null, redis: { url: 'redis://127.0.0.1:1' } })
  await assert.rejects(async () => { await app.ready() }, /cannot reach Redis/)
  await app.close()
})

test('a boot that fails after joining the cluster leaves it again', async (t) => {
  if (!await needRedis(t)) return
  const prefix = uniquePrefix()
  const app = Fastify()
  app.register(actionheroWs, { clientJsName: null, redis: { url: SHARED_REDIS, prefix }, server: { parser: 'carrier-pigeon' } })
  await assert.rejects(async () => { await app.ready() }, /"server" option was refused by Primus/)
  await app.close()
  const keys = await keysUnder(SHARED_REDIS, prefix)
  assert.equal(keys.includes(`${prefix}nodes`), false, 'the node is out of the cluster')
  const client = new Redis(SHARED_REDIS)
  if (keys.length > 0) await client.del(...keys)
  client.disconnect()
})
