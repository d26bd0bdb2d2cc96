/**
 * Every wait is bounded (issue 19, item 4): a Redis request a connection waits for (join and its
 * subscription, leave, say, view, destroy) has a deadline, `redis.requestTimeout`; past it the verb
 * fails with the protocol's error and the connection's later requests go on, the leave on disconnect
 * does not wait for ever, and `close()` returns within its bound. A destroy that failed halfway is
 * finished by a retry.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { ActionheroWsOptions } from '../lib/index.js'
import { needRedis, needRedisServer, sharedPrefix, startOwnRedis } from './cluster-helpers.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { startApp, TestClient, waitFor, type RunningApp } from './helpers.js'

const REQUEST_TIMEOUT = 500

/** A node on the shared Redis through a proxy the test can stall, with a short requestTimeout. */
async function proxiedNode (t: TestContext, options: ActionheroWsOptions = {}): Promise<{ running: RunningApp, proxy: FaultProxy }> {
  const proxy = await FaultProxy.start(6379)
  t.after(() => proxy.close())
  const redis = { url: proxy.url, prefix: sharedPrefix(t), heartbeatInterval: 250, nodeTimeout: 5000, requestTimeout: REQUEST_TIMEOUT }
  const running = await startApp(t, { rooms: ['defaultRoom', 'quiet'], ...options, redis })
  return { running, proxy }
}

test('a join whose subscription never confirms fails within requestTimeout, and the connection\'s next requests are answered', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const { running, proxy } = await proxiedNode(t)
  const client = await TestClient.connect(t, running.url)
  proxy.stall(':subscriber')
  const started = Date.now()
  const refused = await client.request({ event: 'roomAdd', room: 'quiet' })
  assert.equal(refused.error, 'the cluster did not answer in time')
  assert.equal(refused.data, false)
  assert.ok(Date.now() - started < REQUEST_TIMEOUT * 6, `answered in ${Date.now() - started} ms`)
  const details = await client.request({ event: 'detailsView' })
  assert.deepEqual((details.data as { rooms: string[] }).rooms, [], 'not in the room')
  const view = await running.app.actionheroWs.rooms.view('quiet')
  assert.equal(view.membersCount, 0, 'nor in Redis')
  proxy.heal()
  assert.equal((await client.request({ event: 'roomAdd', room: 'quiet' })).data, true, 'joins once Redis answers')
})

test('a connection that closes behind a stalled join leaves in time, and close() returns well within its bound', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const { running, proxy } = await proxiedNode(t, { shutdownTimeout: 10_000 })
  const client = await TestClient.connect(t, running.url)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  proxy.stall(':subscriber')
  client.socket.write({ event: 'roomAdd', room: 'quiet', messageId: 'join' })
  await waitFor(() => running.app.actionheroWs.rooms.view('quiet').then((view) => view.membersCount === 1), 5000)
  client.end()
  await waitFor(() => !running.app.actionheroWs.connections.has(data.id))
  const joining = TestClient.connect(t, running.url)
  const other = await joining
  other.socket.write({ event: 'roomAdd', room: 'quiet', messageId: 'join' })
  const started = Date.now()
  await running.app.close()
  const took = Date.now() - started
  assert.ok(took < 5000, `close() took ${took} ms (its bound: twice shutdownTimeout, 20 s)`)
})

test('a say and a view through a stalled Redis fail within requestTimeout, a leave is answered; the next request too', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const { running, proxy } = await proxiedNode(t)
  const client = await TestClient.connect(t, running.url)
  assert.equal((await client.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  proxy.stall(':command')
  for (const event of ['say', 'roomView']) {
    const reply = await client.request({ event, room: 'defaultRoom', message: 'hi' })
    assert.equal(reply.error, 'the cluster did not answer in time', event)
  }
  // A leave is done here whatever Redis answers (the write-back removes it there): answered, in time.
  const started = Date.now()
  assert.equal((await client.request({ event: 'roomLeave', room: 'defaultRoom' })).status, 'OK')
  assert.ok(Date.now() - started < REQUEST_TIMEOUT * 6)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  proxy.heal()
  // Once Redis answers, the node writes its state back: the member is gone there too.
  await waitFor(async () => (await running.app.actionheroWs.rooms.view('defaultRoom').catch(() => ({ membersCount: -1 }))).membersCount === 0, 10_000)
})

test('a destroy that failed halfway (its `destroyed` notice refused by Redis) is finished by a retry: the room is gone on every node', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t) || !needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const prefix = 'destroy-test:'
  // A user that may publish to no room channel: the destroy's notice to the other nodes fails, for real.
  await redis.command('ACL', 'SETUSER', 'narrow', 'on', '>secret', '~*', '+@all', 'resetchannels', `&${prefix}node:*`, `&${prefix}pushes:*`)
  const narrowUrl = redis.url.replace('redis://', 'redis://narrow:secret@')
  const timing = { prefix, heartbeatInterval: 250, nodeTimeout: 5000 }
  const destroyer = await startApp(t, { redis: { url: narrowUrl, ...timing }, rooms: ['defaultRoom'] })
  const other = await startApp(t, { redis: { url: redis.url, ...timing }, rooms: ['defaultRoom'] })
  await destroyer.app.actionheroWs.rooms.add('doomed')
  const member = await TestClient.connect(t, other.url)
  const { data } = await member.request({ event: 'detailsView' }) as { data: { id: string } }
  assert.equal((await member.request({ event: 'roomAdd', room: 'doomed' })).data, true)

  await assert.rejects(destroyer.app.actionheroWs.rooms.destroy('doomed'))
  assert.ok(other.app.actionheroWs.connections.get(data.id)?.rooms.includes('doomed'), 'the other node did not hear of it')
  await redis.command('ACL', 'SETUSER', 'narrow', 'allchannels')
  assert.equal(await destroyer.app.actionheroWs.rooms.destroy('doomed'), true, 'the retry finishes the destroy')
  await waitFor(() => other.app.actionheroWs.connections.get(data.id)?.rooms.includes('doomed') === false, 5000)
  assert.equal(await other.app.actionheroWs.rooms.exists('doomed'), false)
  assert.equal(await destroyer.app.actionheroWs.rooms.destroy('doomed'), false, 'and a third has nothing left to do')
})
