/**
 * Direct pushes recover (issue 19, item 5): `sendToFingerprint` pushes carry `pushOffset`/`pushEpoch`
 * and are kept under the `history` option, so that a page that reconnects within `ttl` gets the pushes
 * it missed, once, in order, without app code (the package client here; Chromium in
 * browser-pushes.test.ts); on one process and on two nodes on Redis. `sendToFingerprint` never
 * half-sends: it rejects only when nothing was sent.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type PushesRecovery, type PushMessage } from '../lib/client/node.js'
import type { ActionheroWsOptions } from '../lib/index.js'
import { MemoryHistory } from '../lib/rooms/history.js'
import { stampPush } from '../lib/pushes/pushes.js'
import { needRedis, redisAnswers, SHARED_REDIS, sharedPrefix } from './cluster-helpers.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { rejectsWithin, startApp, TestClient, waitFor, type RunningApp } from './helpers.js'

const FINGERPRINT = 'visitor-1'
const COOKIE = { transport: { headers: { cookie: `sessionID=${FINGERPRINT}` } } }

interface Visitor {
  client: ActionheroClient
  pushes: PushMessage[]
  recoveries: PushesRecovery[]
}

/** The package client of one visitor, through a proxy the test can cut, to `url`. */
async function visitor (t: TestContext, port: number): Promise<{ visitor: Visitor, proxy: FaultProxy }> {
  const proxy = await FaultProxy.start(port)
  t.after(() => proxy.close())
  const client = new ActionheroClient({ url: `http://127.0.0.1:${proxy.port}`, reconnect: { min: 20, max: 100, retries: 1000 }, ...COOKIE })
  t.after(() => client.disconnect())
  const pushes: PushMessage[] = []
  const recoveries: PushesRecovery[] = []
  client.on('alert', (message) => pushes.push(message))
  client.on('pushesRecovered', (recovery) => recoveries.push(recovery))
  await client.connect()
  assert.equal(client.fingerprint, FINGERPRINT)
  return { visitor: { client, pushes, recoveries }, proxy }
}

/** Nodes of one cluster on the shared Redis under a prefix of their own; their keys go when the test ends. */
function onRedis (t: TestContext): (options?: ActionheroWsOptions) => Promise<RunningApp> {
  const prefix = sharedPrefix(t)
  return async (options = {}) => await startApp(t, { ...options, redis: { url: SHARED_REDIS, prefix, heartbeatInterval: 250, nodeTimeout: 1500 } })
}

/** Pushes `count` alerts numbered from `from`, from `app`, and answers what each resolved with. */
async function pushMany ({ app }: RunningApp, from: number, count: number): Promise<number[]> {
  const reached: number[] = []
  for (let n = from; n < from + count; n++) reached.push(await app.actionheroWs.sendToFingerprint(FINGERPRINT, { context: 'alert', n }))
  return reached
}

const numbers = (pushes: PushMessage[]): unknown[] => pushes.map((push) => push.n)

async function offlineWhilePushed (t: TestContext, sender: RunningApp, receiver: RunningApp): Promise<void> {
  const { visitor: { client, pushes, recoveries }, proxy } = await visitor(t, receiver.port)
  assert.deepEqual(await pushMany(sender, 0, 1), [1], 'one connection of the visitor')
  await waitFor(() => pushes.length === 1)
  const id = String(client.id)
  proxy.cut()
  await waitFor(() => !receiver.app.actionheroWs.connections.has(id), 10_000)
  assert.deepEqual(await pushMany(sender, 1, 10), Array(10).fill(0), 'nobody connected now: kept for later')
  proxy.heal()
  await waitFor(() => recoveries.length === 1 && client.state === 'connected', 20_000)
  await pushMany(sender, 11, 1)
  await waitFor(() => pushes.length >= 12, 10_000)
  assert.deepEqual(numbers(pushes), Array.from({ length: 12 }, (_, n) => n), 'every push once, in order')
  assert.deepEqual(recoveries, [{ recovered: true }])
  assert.deepEqual(pushes.map((push) => push.pushOffset), Array.from({ length: 12 }, (_, n) => n + 1))
}

test('one process: a client away while 10 pushes are sent gets all 10 once, in order, when it is back', { timeout: 60_000 }, async (t) => {
  const app = await startApp(t)
  await offlineWhilePushed(t, app, app)
})

test('two nodes on Redis: pushes sent from the other node while the client is away, all once, in order', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const node = onRedis(t)
  const sender = await node()
  const receiver = await node()
  await offlineWhilePushed(t, sender, receiver)
})

test('pushesSince: a connection without a fingerprint, or a server without history, answers without a position', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const anonymous = await TestClient.connect(t, url)
  assert.deepEqual(Object.keys(await anonymous.request({ event: 'pushesSince' })).sort(), ['context', 'messageCount', 'messageId', 'status'])
  const { url: without } = await startApp(t, { history: false })
  const client = await TestClient.connect(t, without, COOKIE)
  const reply = await client.request({ event: 'pushesSince', since: { epoch: 'x', offset: 1 } })
  assert.equal(reply.status, 'OK')
  assert.equal(reply.epoch, undefined)
  assert.equal(reply.recovered, undefined)
})

test('pushesSince with a position the history no longer covers: recovered false, nothing replayed', { timeout: 30_000 }, async (t) => {
  const running = await startApp(t, { history: { size: 3 } })
  const client = await TestClient.connect(t, running.url, COOKIE)
  await pushMany(running, 0, 5)
  const first = await client.next((m) => m.n === 0)
  const late = await TestClient.connect(t, running.url, COOKIE)
  const reply = await late.request({ event: 'pushesSince', since: { epoch: first.pushEpoch, offset: 1 } })
  assert.deepEqual([reply.recovered, reply.offset], [false, 5])
  assert.deepEqual(late.messages.filter((m) => m.context === 'alert'), [])
  const inside = await TestClient.connect(t, running.url, COOKIE)
  const covered = await inside.request({ event: 'pushesSince', since: { epoch: first.pushEpoch, offset: 2 } })
  assert.equal(covered.recovered, true)
  assert.deepEqual(inside.messages.filter((m) => m.context === 'alert').map((m) => m.n), [2, 3, 4])
})

test('a visitor that got no push yet: nothing missed while nothing is pushed, and everything pushed meanwhile once it is', { timeout: 30_000 }, async (t) => {
  const redis = await redisAnswers() ? [{ redis: { url: SHARED_REDIS, prefix: sharedPrefix(t) } }] : []
  for (const [history, store] of [[{ ttl: 200 }, {}], [{}, {}], ...redis.map((options) => [{}, options] as const)] as const) {
    const running = await startApp(t, { history, ...store })
    const client = await TestClient.connect(t, running.url, COOKIE)
    const unstarted = await client.request({ event: 'pushesSince' })
    assert.deepEqual([unstarted.epoch, unstarted.offset], ['none', 0], 'a stream nothing was pushed to is not made')
    // However long it stays so (past the ttl: nothing to expire), a page at that position missed nothing.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const again = await TestClient.connect(t, running.url, COOKIE)
    assert.equal((await again.request({ event: 'pushesSince', since: { epoch: 'none', offset: 0 } })).recovered, true)
    if ('ttl' in history) continue
    await pushMany(running, 0, 2)
    const back = await TestClient.connect(t, running.url, COOKIE)
    const replayed = await back.request({ event: 'pushesSince', since: { epoch: 'none', offset: 0 } })
    assert.equal(replayed.recovered, true)
    assert.deepEqual(back.messages.filter((m) => m.context === 'alert').map((m) => m.n), [0, 1], 'all of the stream, from its start')
  }
})

test('send to a connection id stays fire-and-forget: no position, not kept', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = await TestClient.connect(t, url, COOKIE)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  assert.equal(await app.actionheroWs.send(data.id, { context: 'alert', direct: true }), true)
  const pushed = await client.next((m) => m.direct === true)
  assert.equal(pushed.pushOffset, undefined)
  assert.equal((await client.request({ event: 'pushesSince' })).offset, 0, 'nothing in the visitor\'s stream')
})

/** A node of its own on the shared Redis through a proxy the test can break, and a visitor on it. */
async function proxiedNode (t: TestContext, options: ActionheroWsOptions = {}): Promise<{ running: RunningApp, proxy: FaultProxy, client: TestClient }> {
  const proxy = await FaultProxy.start(6379)
  t.after(() => proxy.close())
  const running = await startApp(t, { ...options, redis: { url: proxy.url, prefix: sharedPrefix(t), heartbeatInterval: 250, nodeTimeout: 1500, requestTimeout: 500 } })
  const client = await TestClient.connect(t, running.url, COOKIE)
  await client.request({ event: 'pushesSince' })
  return { running, proxy, client }
}

const alerts = (client: TestClient): unknown[] => client.messages.filter((m) => m.context === 'alert').map((m) => m.n)

test('sendToFingerprint that fails is not half-sent: it rejects, and this node\'s connections got nothing', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  for (const history of [undefined, false] as const) {
    const { running: { app }, proxy, client } = await proxiedNode(t, { history })
    proxy.cut(':command')
    // Once the node knows Redis is away, a command fails at once.
    await waitFor(() => rejectsWithin(app.actionheroWs.rooms.exists('defaultRoom'), 200), 10_000)
    const refused = await app.actionheroWs.sendToFingerprint(FINGERPRINT, { context: 'alert', n: 'refused' }).then(() => null, (error: Error) => error)
    proxy.heal()
    // A marker sent after: had the refused push been written, it would be here before it.
    await waitFor(async () => await app.actionheroWs.sendToFingerprint(FINGERPRINT, { context: 'alert', n: 'marker' }).then(() => true, () => false), 10_000)
    await client.next((m) => m.n === 'marker', 10_000)
    assert.deepEqual(alerts(client), ['marker'], `history ${String(history ?? 'on')}: the refused push reached nobody`)
    assert.equal(refused?.message, 'the cluster could not be reached; try again', 'it rejected, with the protocol\'s error')
  }
})

test('sendToFingerprint through a stalled Redis resolves within requestTimeout, and the push arrives once (with history, when Redis answers)', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  for (const history of [undefined, false] as const) {
    const { running: { app }, proxy, client } = await proxiedNode(t, { history })
    proxy.stall()
    const started = Date.now()
    assert.equal(await app.actionheroWs.sendToFingerprint(FINGERPRINT, { context: 'alert', n: 'stalled' }), 1, 'this node\'s connection')
    assert.ok(Date.now() - started < 5000, 'bounded by requestTimeout')
    proxy.heal()
    await waitFor(async () => await app.actionheroWs.sendToFingerprint(FINGERPRINT, { context: 'alert', n: 'marker' }).then(() => true, () => false), 10_000)
    await client.next((m) => m.n === 'marker', 10_000)
    assert.deepEqual(alerts(client), ['stalled', 'marker'], `history ${String(history ?? 'on')}: once each, in order`)
  }
})

test('in memory a visitor\'s stream is made when something is pushed, bounded like a room\'s, and swept once nothing is kept', { timeout: 30_000 }, async () => {
  const history = new MemoryHistory<PushMessage>({ size: 3, ttl: 100, maxBytes: 1024 * 1024 }, { stamp: stampPush, lazy: true })
  history.start()
  try {
    for (let n = 0; n < 5; n++) history.append('fp', { context: 'alert', n })
    assert.equal(history.size, 3)
    assert.deepEqual((await history.recent('fp', 10)).map((push) => [push.n, push.pushOffset]), [[2, 3], [3, 4], [4, 5]])
    await waitFor(() => history.size === 0, 5000)
    const { epoch: before } = await history.position('fp')
    assert.equal((await history.position('fp')).epoch, before)
  } finally {
    history.stop()
  }
})
