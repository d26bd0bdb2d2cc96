/**
 * The Redis room store and node in one process, where a test can reach them directly: member details,
 * write-back under concurrent joins and leaves, a failed publish, and the listeners on an app's client.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { RedisNode, type RedisNodeOptions } from '../lib/cluster/redis-node.js'
import * as schemaModule from '../lib/cluster/redis-schema.js'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import actionheroWs from '../lib/index.js'
import { RedisRoomStore } from '../lib/rooms/redis-store.js'
import type { LocalMembers, RoomMember, RoomStoreEvents } from '../lib/rooms/store.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { keysUnder, needRedis, needRedisServer, SHARED_REDIS, startOwnRedis, uniquePrefix } from './cluster-helpers.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

const silent = Fastify({ logger: false }).log
const ignore: RoomStoreEvents = { deliver: () => {}, destroyed: () => {}, departed: () => {}, presence: () => {} }

/**
 * A node's members as their owner (lib/rooms/membership.ts) lists them for the store: from before it
 * asks the store to add one until before it asks the store to remove it.
 */
class ListedMembers implements LocalMembers {
  readonly #rooms = new Map<string, Map<string, RoomMember>>()

  list (room: string, member: RoomMember): void {
    let members = this.#rooms.get(room)
    if (members === undefined) this.#rooms.set(room, members = new Map())
    members.set(member.id, member)
  }

  unlist (room: string, id: string): void {
    const members = this.#rooms.get(room)
    if (members?.delete(id) === true && members.size === 0) this.#rooms.delete(room)
  }

  rooms (): Iterable<string> {
    return this.#rooms.keys()
  }

  members (room: string): Iterable<RoomMember> {
    return this.#rooms.get(room)?.values() ?? []
  }

  has (room: string, id?: string): boolean {
    const members = this.#rooms.get(room)
    return members !== undefined && (id === undefined || members.has(id))
  }
}

async function startStore (t: TestContext, options: Partial<RedisNodeOptions> & { url: string, prefix: string }, events = ignore) {
  const node = new RedisNode({ client: null, cluster: null, heartbeatInterval: 100, nodeTimeout: 1000, requestTimeout: 1000, ...options }, silent)
  const store = new RedisRoomStore(node)
  const listed = new ListedMembers()
  await node.start()
  await store.start(events, listed)
  t.after(async () => {
    await store.close()
    await node.close()
  })
  return { node, store, listed }
}

async function removeKeys (url: string, prefix: string): Promise<void> {
  const keys = await keysUnder(url, prefix)
  const client = new Redis(url)
  if (keys.length > 0) await client.del(...keys)
  client.disconnect()
}

test('member details are stored with the membership and shown by every node', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t)) return
  const prefix = uniquePrefix()
  t.after(() => removeKeys(SHARED_REDIS, prefix))
  const a = await startStore(t, { url: SHARED_REDIS, prefix })
  const b = await startStore(t, { url: SHARED_REDIS, prefix })
  await a.store.create('lobby')
  assert.equal(await a.store.join('lobby', { id: 'c1', joinedAt: 5, details: { name: 'Ada', level: 3 } }), 'joined')
  assert.equal(await a.store.join('lobby', { id: 'c2', joinedAt: 6 }), 'joined')
  const members = (await b.store.members('lobby'))?.sort((x, y) => x.id.localeCompare(y.id))
  assert.deepEqual(members, [{ id: 'c1', joinedAt: 5, details: { name: 'Ada', level: 3 } }, { id: 'c2', joinedAt: 6 }])
})

test('write-back under concurrent joins and leaves while the connection is killed: Redis ends with exactly the local members', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const prefix = uniquePrefix()
  // Latency widens every window between a command and its reply, where a write-back could race.
  const proxy = await FaultProxy.start(redis.port)
  t.after(() => proxy.close())
  proxy.delay(15)
  const { node, store, listed } = await startStore(t, { url: proxy.url, prefix })
  const rooms = ['r0', 'r1', 'r2']
  for (const room of rooms) await store.create(room)
  const expected = new Map(rooms.map((room) => [room, new Set<string>()]))
  const stats: Record<string, number> = {}
  // As the owner of memberships does, one change at a time per membership; many memberships change at once.
  const chains = new Map<string, Promise<void>>()
  // The kills one after another: each is a client of its own, and two at once would kill each other's.
  let killing: Promise<unknown> = Promise.resolve()
  let kills = 0
  for (let n = 0; n < 400; n++) {
    const room = rooms[n % 3]!
    const id = `m${n % 40}`
    const members = expected.get(room)!
    const change = async (): Promise<void> => {
      if (members.has(id)) {
        members.delete(id)
        listed.unlist(room, id)
        await store.leave(room, id).catch(() => {})
        return
      }
      const member = { id, joinedAt: n }
      listed.list(room, member)
      const joined = await store.join(room, member).catch(() => 'failed')
      stats[joined] = (stats[joined] ?? 0) + 1
      if (joined === 'joined') {
        members.add(id)
        return
      }
      listed.unlist(room, id)
      // Whatever of a failed join reached Redis is undone.
      if (joined === 'failed') store.leave(room, id).catch(() => {})
    }
    const key = `${room}/${id}`
    chains.set(key, (chains.get(key) ?? Promise.resolve()).then(change))
    if (n % 20 === 0) await sleep(5)
    // Kills the node's connections (not the test's) while changes are on their way.
    if (n % 80 === 40) {
      killing = killing.then(async () => { await redis.command('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'yes'); kills++ })
      // Observed now, failed at the end: a kill that failed must not surface as an unhandled rejection.
      killing.catch(() => {})
    }
  }
  await Promise.all([...chains.values(), killing])
  assert.equal(kills, 5, 'the node\'s connections were killed five times while the changes went on')
  const schema = new RedisSchema(prefix)
  const client = new Redis(redis.url)
  t.after(() => client.disconnect())
  const actual = async (): Promise<string> => JSON.stringify(await Promise.all(rooms.map(async (room) => Object.keys(await client.hgetall(schema.room(room))).sort())))
  const wanted = JSON.stringify(rooms.map((room) => [...expected.get(room)!].sort()))
  await waitFor(async () => !node.outage && await actual() === wanted, 10_000).catch(() => {})
  assert.equal(await actual(), wanted, `joins by outcome: ${JSON.stringify(stats)}`)
  const memberships = (await client.smembers(schema.membershipsOf(node.id))).length
  assert.equal(memberships, [...expected.values()].reduce((sum, members) => sum + members.size, 0), 'the node\'s memberships set agrees')
})

test('a publish that fails: a membership change rejects once and leaves no promise to reject later; a broadcast rejects, logged at warn, rate-limited, with the node id', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  // A user that may do everything but PUBLISH: the request fails after the directory answered.
  await redis.command('ACL', 'SETUSER', 'nopublish', 'on', '>secret', '~*', '&*', '+@all', '-publish')
  const prefix = uniquePrefix()
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.after(() => process.off('unhandledRejection', onUnhandled))
  const requestTimeout = 200
  const b = await startApp(t, { redis: { url: redis.url, prefix } })
  const logs: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } }
  const a = await startApp(t, { redis: { url: `redis://nopublish:secret@127.0.0.1:${redis.port}`, prefix, requestTimeout } },
    { fastify: { logger: { level: 'warn', stream } } })
  const client = await TestClient.connect(t, b.url)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  const directory = new Redis(redis.url)
  t.after(() => directory.disconnect())
  await waitFor(async () => await directory.hget(new RedisSchema(prefix).connections, data.id) !== null)
  await assert.rejects(a.app.actionheroWs.rooms.addMember(data.id, 'defaultRoom'), /NOPERM/)
  await sleep(requestTimeout * 3)
  assert.deepEqual(unhandled, [])

  // With room history on (the default), the message could not be stored: the broadcast fails, and reaches nobody.
  for (let n = 0; n < 5; n++) await assert.rejects(a.app.actionheroWs.rooms.broadcast('defaultRoom', `lost ${n}`), { message: 'the cluster could not be reached; try again' })
  const failures = logs.filter((line) => line.msg === 'fastify-actionhero-ws: a request to Redis failed')
  assert.equal(failures.length, 1, 'logged once for five failures')
  assert.equal(failures[0]?.level, 40)
  assert.equal(typeof failures[0]?.node, 'string')
})

test('redis.client: everything the plugin adds to the app\'s client is removed at close', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t)) return
  const client = new Redis(SHARED_REDIS)
  t.after(() => client.disconnect())
  const prefix = uniquePrefix()
  t.after(() => removeKeys(SHARED_REDIS, prefix))
  const events = ['error', 'close', 'ready', 'message', 'smessage', 'end', 'reconnecting']
  const counts = (): number[] => events.map((event) => client.listenerCount(event))
  const before = counts()
  const app = Fastify()
  await app.register(actionheroWs, { clientJsName: null, redis: { client, prefix } })
  await app.ready()
  assert.notDeepEqual(counts(), before, 'the plugin listens to the client while it runs')
  await app.close()
  assert.deepEqual(counts(), before)
  assert.equal(client.status, 'ready')
})

test('every Lua script names its keys through KEYS only, so that it runs on Redis Cluster', { timeout: 10_000 }, () => {
  const scripts: Array<[string, string]> = []
  for (const [name, value] of Object.entries(schemaModule)) if (typeof value === 'string' && value.includes('redis.call')) scripts.push([name, value])
  assert.ok(scripts.length >= 6)
  for (const [name, script] of scripts) {
    for (const [, command, key] of script.matchAll(/redis\.call\('(\w+)'(?:, ([^,)]+))?/g)) {
      if (command === 'TIME') continue
      assert.match(key ?? '', /^KEYS\[[^\]]+\]$/, `${name}: ${command} on a key from KEYS`)
    }
  }
})

test('a dead node with more members than one reaping step is reaped completely, each member departing once', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t)) return
  const prefix = uniquePrefix()
  t.after(() => removeKeys(SHARED_REDIS, prefix))
  const schema = new RedisSchema(prefix)
  const redis = new Redis(SHARED_REDIS)
  t.after(() => redis.disconnect())
  // What a node that died holding 450 memberships and 300 connections leaves behind, its heartbeat long gone.
  const dead = 'dead-node'
  const batch = redis.multi().zadd(schema.nodes, 0, dead).sadd(schema.rooms, 'r0', 'r1', 'r2')
  for (let n = 0; n < 450; n++) {
    const [room, id] = [`r${n % 3}`, `c${Math.floor(n / 3)}`]
    batch.hset(schema.room(room), id, schemaModule.encodeMember({ id, joinedAt: n }, dead)).sadd(schema.membershipsOf(dead), schemaModule.membershipOf(id, room))
  }
  for (let n = 0; n < 300; n++) {
    batch.hset(schema.connections, `c${n}`, dead).hset(schema.connectionsOf(dead), `c${n}`, n % 2 === 0 ? 'fp' : '')
    if (n % 2 === 0) batch.sadd(schema.fingerprint('fp'), `c${n}`)
  }
  await batch.exec()
  const departed: string[] = []
  await startStore(t, { url: SHARED_REDIS, prefix }, { ...ignore, departed: (room, id) => departed.push(`${room}/${id}`) })
  // The reaper hears of the departures once its last step has removed the node: wait for both.
  await waitFor(async () => await redis.zscore(schema.nodes, dead) === null && departed.length >= 450, 10_000)
  assert.equal(departed.length, 450)
  assert.equal(new Set(departed).size, 450, 'each member departed once')
  for (const room of ['r0', 'r1', 'r2']) assert.equal(await redis.hlen(schema.room(room)), 0)
  assert.equal(await redis.hlen(schema.connections), 0)
  assert.equal(await redis.scard(schema.fingerprint('fp')), 0)
  assert.equal(await redis.exists(schema.membershipsOf(dead), schema.connectionsOf(dead)), 0)
})
