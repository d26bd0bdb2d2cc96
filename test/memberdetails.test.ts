/**
 * The `memberDetails` option: what a member shows in `roomView`, made when it joins, stored with the
 * membership (in memory, and in Redis for every node), and a join refused when it cannot be made.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import actionheroWs, { ERRORS, type ActionheroWsOptions, type Connection, type RoomMembers } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { keysUnder, needRedis, SHARED_REDIS, uniquePrefix } from './cluster-helpers.js'
import { startApp, TestClient } from './helpers.js'

/** A connected client that knows its connection id. */
async function visitor (t: TestContext, url: string, query = ''): Promise<TestClient & { id: string }> {
  const client = await TestClient.connect(t, `${url}${query}`)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  return Object.assign(client, { id: data.id })
}

async function roomView (client: TestClient, room: string): Promise<RoomMembers> {
  const reply = await client.request({ event: 'roomView', room })
  assert.equal(reply.error, undefined)
  return reply.data as RoomMembers
}

/** Details from the handshake's query, as an app would take them from its session. */
const fromQuery = (connection: Connection) => ({ type: 'websocket', name: connection.handshake.query.name ?? 'anonymous' })

test('roomView shows each member\'s details after its id and joinedAt, which the details cannot change', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, {
    memberDetails: async (connection) => ({ ...fromQuery(connection), id: 'forged', joinedAt: 0 })
  })
  const alice = await visitor(t, url, '/?name=alice')
  const bob = await visitor(t, url)
  const before = Date.now()
  for (const client of [alice, bob]) assert.equal((await client.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)

  const view = await roomView(bob, 'defaultRoom')
  assert.equal(view.membersCount, 2)
  const member = view.members[alice.id]
  assert.ok(member !== undefined)
  assert.deepEqual(Object.keys(member), ['id', 'joinedAt', 'type', 'name'], 'id and joinedAt first, then the details')
  assert.equal(member.id, alice.id)
  assert.ok(member.joinedAt >= before && member.joinedAt <= Date.now(), 'joinedAt is the room\'s, not the forged 0')
  assert.equal(member.name, 'alice')
  assert.equal(view.members[bob.id]?.name, 'anonymous')
  assert.equal(view.members[bob.id]?.type, 'websocket')
})

test('the details are made once, at the join: what the function gives later does not change a membership', { timeout: 30_000 }, async (t) => {
  let calls = 0
  const { app, url } = await startApp(t, { memberDetails: () => ({ call: ++calls }) })
  const alice = await visitor(t, url)
  await alice.request({ event: 'roomAdd', room: 'defaultRoom' })
  await app.actionheroWs.rooms.addMember(alice.id, 'anotherRoom')
  assert.equal(calls, 2, 'once per join, the server API\'s addMember included')
  await roomView(alice, 'defaultRoom')
  await app.actionheroWs.rooms.view('defaultRoom')
  assert.equal(calls, 2, 'a view does not make them again')
  assert.equal((await app.actionheroWs.rooms.view('defaultRoom')).members[alice.id]?.call, 1)
  assert.equal((await app.actionheroWs.rooms.view('anotherRoom')).members[alice.id]?.call, 2)
})

test('the details are a JSON copy: what the app keeps changing later does not show', { timeout: 30_000 }, async (t) => {
  const shared = { score: 1, at: new Date(0), nested: { level: 1 } }
  const { app, url } = await startApp(t, { memberDetails: () => shared })
  const alice = await visitor(t, url)
  await alice.request({ event: 'roomAdd', room: 'defaultRoom' })
  shared.score = 2
  shared.nested.level = 2
  const member = (await app.actionheroWs.rooms.view('defaultRoom')).members[alice.id]
  assert.deepEqual(member, { id: alice.id, joinedAt: member?.joinedAt, score: 1, at: '1970-01-01T00:00:00.000Z', nested: { level: 1 } })
})

test('a memberDetails that throws, rejects or gives no plain JSON object refuses the join, with a clear error', { timeout: 30_000 }, async (t) => {
  const circular: Record<string, unknown> = {}
  circular.self = circular
  const results: Record<string, () => unknown> = {
    throws: () => { throw new Error('the session store is down') },
    rejects: async () => { throw new Error('the session store is down') },
    array: () => ['not', 'an', 'object'],
    string: () => 'alice',
    null: () => null,
    'a class instance': () => new Map([['a', 1]]),
    circular: () => circular,
    bigint: () => ({ big: 1n })
  }
  const { app, url } = await startApp(t, {
    memberDetails: (connection) => {
      const which = results[String(connection.handshake.query.case)] ?? (() => ({ fine: true }))
      return which() as Record<string, unknown>
    }
  })
  for (const which of Object.keys(results)) {
    const client = await visitor(t, url, `/?case=${encodeURIComponent(which)}`)
    const reply = await client.request({ event: 'roomAdd', room: 'defaultRoom' })
    assert.equal(reply.error, ERRORS.memberDetailsFailed, which)
    assert.equal(reply.data, false, which)
    const details = await client.request({ event: 'detailsView' })
    assert.deepEqual((details.data as { rooms: string[] }).rooms, [], `${which}: the connection is not in the room`)
    await assert.rejects(app.actionheroWs.rooms.addMember(client.id, 'anotherRoom'), { message: ERRORS.memberDetailsFailed })
  }
  assert.equal((await app.actionheroWs.rooms.view('defaultRoom')).membersCount, 0, 'no membership left behind')
  assert.equal((await app.actionheroWs.rooms.view('anotherRoom')).membersCount, 0, 'no membership left behind')
  const alice = await visitor(t, url)
  assert.equal(ERRORS.memberDetailsFailed, 'the server could not make the member details of this connection')
  assert.equal((await alice.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true, 'a join whose details can be made still works')
})

test('memberDetails must be a function', () => {
  for (const memberDetails of ['name', { name: 'x' }, 1, null]) {
    assert.throws(() => resolveOptions({ memberDetails }), (error: Error & { code?: string }) =>
      error.code === 'FST_AHWS_INVALID_OPTION' && error.message === '"memberDetails" option must be a function (connection) => object')
  }
  assert.equal(resolveOptions({}).memberDetails, null)
})

test('without memberDetails a member is { id, joinedAt }, as before', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const alice = await visitor(t, url)
  await alice.request({ event: 'roomAdd', room: 'defaultRoom' })
  assert.deepEqual(Object.keys((await app.actionheroWs.rooms.view('defaultRoom')).members[alice.id] ?? {}), ['id', 'joinedAt'])
})

/** An app of a Redis cluster, in this process: the option is a function, which a forked node could not be given. */
async function redisNode (options: ActionheroWsOptions, prefix: string): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify({ logger: false })
  await app.register(actionheroWs, { clientJsName: null, ...options, redis: { url: SHARED_REDIS, prefix, heartbeatInterval: 250, nodeTimeout: 1500 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a port')
  return { app, url: `http://127.0.0.1:${address.port}` }
}

test('on Redis, a member joined on node A shows its details in node B\'s roomView',
  { timeout: 30_000 }, async (t) => {
    if (!await needRedis(t)) return
    const prefix = uniquePrefix()
    const apps: FastifyInstance[] = []
    t.after(async () => {
      await Promise.all(apps.map((app) => app.close()))
      const keys = await keysUnder(SHARED_REDIS, prefix)
      if (keys.length === 0) return
      const redis = new Redis(SHARED_REDIS)
      await redis.del(...keys)
      redis.disconnect()
    })
    const memberDetails = (connection: Connection) => ({ name: connection.handshake.query.name, node: 'a' })
    const a = await redisNode({ memberDetails }, prefix)
    apps.push(a.app)
    const b = await redisNode({ memberDetails: () => ({ node: 'b' }) }, prefix)
    apps.push(b.app)
    const alice = await visitor(t, a.url, '/?name=alice')
    const bob = await visitor(t, b.url, '/?name=bob')
    for (const client of [alice, bob]) assert.equal((await client.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
    const view = await roomView(bob, 'defaultRoom')
    assert.equal(view.membersCount, 2)
    assert.deepEqual(view.members[alice.id], { id: alice.id, joinedAt: view.members[alice.id]?.joinedAt, name: 'alice', node: 'a' })
    assert.deepEqual(view.members[bob.id], { id: bob.id, joinedAt: view.members[bob.id]?.joinedAt, node: 'b' })
    assert.deepEqual((await a.app.actionheroWs.rooms.view('defaultRoom')).members, view.members, 'both nodes show the same')
  })
