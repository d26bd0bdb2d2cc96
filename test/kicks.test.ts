/**
 * Kicks (issue 21): `disconnect` and `disconnectFingerprint` close connections with a reason the client
 * gets (the `closed` message and event), on this node and on every other; with `reconnect: false` the
 * client stays away, with `reconnect: true` it comes back. A forged or malformed kick on the bus is
 * dropped like any bus message.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { ActionheroClient, type ClientEvents } from '../lib/client/node.js'
import { encodeBusMessage } from '../lib/cluster/bus.js'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import { ERRORS, InvalidDisconnectError } from '../lib/index.js'
import { createCluster, needRedis } from './cluster-helpers.js'
import { startApp, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>

function clientOf (t: TestContext, url: string, cookie?: string): ActionheroClient & { events: string[], closures: Array<ClientEvents['closed'][0]> } {
  const transport = cookie === undefined ? {} : { transport: { headers: { cookie: `sessionID=${cookie}` } } }
  const client = Object.assign(new ActionheroClient({ url, reconnect: { min: 20, max: 100 }, ...transport }), { events: [] as string[], closures: [] as Array<ClientEvents['closed'][0]> })
  for (const event of ['connected', 'disconnected', 'reconnecting', 'reconnect'] as const) client.on(event, () => client.events.push(event))
  client.on('closed', (closure) => { client.events.push('closed'); client.closures.push(closure) })
  t.after(() => client.disconnect())
  return client
}

async function member (t: TestContext, url: string, options: Message = {}): Promise<TestClient & { id: string }> {
  const client = await TestClient.connect(t, url, options)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  return Object.assign(client, { id: data.id })
}

const closed = (message: Message): boolean => message.context === 'closed'

test('disconnect closes a connection with the reason; with reconnect: false the client stays away', { timeout: 20_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const kicked = clientOf(t, url)
  const other = clientOf(t, url)
  await kicked.connect()
  await other.connect()
  const gone = new Promise<void>((resolve) => kicked.once('disconnected', () => resolve()))
  assert.equal(await app.actionheroWs.disconnect(kicked.id as string, { reason: 'you were kicked' }), true)
  await gone
  assert.deepEqual(kicked.closures, [{ reason: 'you were kicked', reconnect: false }])
  assert.deepEqual(kicked.events, ['connected', 'closed', 'disconnected'], 'the reason first, then the end; no reconnection is scheduled')
  assert.equal(kicked.state, 'disconnected')
  // The other connection is untouched, and the server holds it alone.
  assert.equal((await other.detailsView()).data?.id, other.id)
  assert.deepEqual([...app.actionheroWs.connections.keys()], [other.id])
  assert.equal(await app.actionheroWs.disconnect('no-such-connection'), false)
  await assert.rejects(app.actionheroWs.disconnect(other.id as string, { reason: 'x'.repeat(1025) }), InvalidDisconnectError)
  await assert.rejects(app.actionheroWs.disconnect(other.id as string, { reconnect: 'yes' as unknown as boolean }), InvalidDisconnectError)
  assert.equal(other.state, 'connected', 'a refused kick kicks nobody')
})

test('disconnect with reconnect: true: the client gets the reason, then comes back', { timeout: 20_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = clientOf(t, url)
  await client.connect()
  const firstId = client.id as string
  const back = new Promise<void>((resolve) => client.once('reconnect', () => resolve()))
  assert.equal(await app.actionheroWs.disconnect(firstId, { reconnect: true }), true)
  await back
  assert.deepEqual(client.closures, [{ reason: ERRORS.disconnected, reconnect: true }], 'the default reason')
  assert.notEqual(client.id, firstId, 'a new connection')
  assert.equal(client.state, 'connected')
})

test('disconnectFingerprint closes every connection of the visitor, and only those', { timeout: 20_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const tabs = [clientOf(t, url, 'visitor'), clientOf(t, url, 'visitor')]
  const stranger = clientOf(t, url, 'stranger')
  for (const client of [...tabs, stranger]) await client.connect()
  const gone = tabs.map((tab) => new Promise<void>((resolve) => tab.once('disconnected', () => resolve())))
  assert.equal(await app.actionheroWs.disconnectFingerprint('visitor', { reason: 'signed out everywhere' }), 2)
  await Promise.all(gone)
  for (const tab of tabs) assert.deepEqual(tab.closures, [{ reason: 'signed out everywhere', reconnect: false }])
  assert.equal((await stranger.detailsView()).data?.fingerprint, 'stranger')
  assert.deepEqual(stranger.closures, [])
  assert.equal(await app.actionheroWs.disconnectFingerprint('nobody'), 0)
})

test('kicks from node A reach connections on nodes B and C; a forged or malformed kick on the bus is dropped', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const [a, b, c] = await Promise.all([cluster.startNode(), cluster.startNode(), cluster.startNode()])
  const cookie = (fingerprint: string): Message => ({ transport: { headers: { cookie: `sessionID=${fingerprint}` } } })
  const onB = await member(t, b!.url)
  const tabOnB = await member(t, b!.url, cookie('visitor'))
  const tabOnC = await member(t, c!.url, cookie('visitor'))
  const bystander = await member(t, c!.url)

  // Garbage and a kick for a connection its node does not hold, straight on the node channels: dropped, nothing closes.
  const redis = new Redis(cluster.redisUrl)
  t.after(() => redis.disconnect())
  const schema = new RedisSchema(cluster.prefix)
  const nodes = await redis.zrange(schema.nodes, '0', '-1')
  for (const node of nodes) {
    await redis.publish(schema.nodeChannel(node), encodeBusMessage('disconnect', 'forger', '{"connectionIds":"all"}'))
    await redis.publish(schema.nodeChannel(node), encodeBusMessage('disconnect', 'forger', JSON.stringify({ connectionIds: [bystander.id], reason: 'r', reconnect: 'no' })))
    await redis.publish(schema.nodeChannel(node), encodeBusMessage('reauthorize', 'forger', 'not json'))
  }
  await waitFor(() => [a, b, c].filter((node) => node!.logs.some((log) => log.msg === 'fastify-actionhero-ws: dropped a message from the bus')).length === 3)

  const started = Date.now()
  const ended = onB.closed()
  assert.equal(await a!.call('disconnect', { id: onB.id, reason: 'kicked from a' }), true)
  assert.deepEqual(await onB.next(closed), { context: 'closed', reason: 'kicked from a', reconnect: false })
  await ended
  assert.equal(await a!.call('disconnectFingerprint', { fingerprint: 'visitor', reason: 'signed out' }), 2)
  for (const tab of [tabOnB, tabOnC]) assert.deepEqual(await tab.next(closed), { context: 'closed', reason: 'signed out', reconnect: false })
  t.diagnostic(`three kicks from node A reached nodes B and C in ${Date.now() - started} ms (two HTTP calls, two bus messages)`)
  // A marker after the kicks: the bystander's connection is open, and got no kick.
  assert.equal((await bystander.request({ event: 'detailsView' })).status, 'OK')
  assert.equal(bystander.messages.some(closed), false)
  assert.equal(await a!.call('disconnect', { id: 'gone-nowhere' }), false)
  cluster.assertHealthy()
})
