/**
 * Metrics: a real prom-client registry, scraped after real sessions over real sockets (and a real
 * Redis cut through a proxy).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'node:test'
import Fastify from 'fastify'
import { Counter, register as defaultRegistry, Registry } from 'prom-client'
import { ActionheroClient as NodeClient } from '../lib/client/node.js'
import actionheroWs, { defineAction } from '../lib/index.js'
import { Redis } from 'ioredis'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import { createCluster, needRedis, SHARED_REDIS, sharedPrefix } from './cluster-helpers.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'
import { deafWebSocket, webSocketPath } from './transformer-helpers.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  run: ({ a, b }) => ({ sum: a + b })
})
const fails = defineAction({ name: 'fails', run: async () => { throw new Error('it broke') } })

const P = 'actionhero_ws_'

interface Sample {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

/** Every sample of metric `name` (a histogram's too, by `metricName`), as prom-client collects them for a scrape. */
async function samples (registry: Registry, name: string): Promise<Sample[]> {
  const metric = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name)
  if (metric === undefined) throw new Error(`no metric ${name}`)
  return metric.values as Sample[]
}

/** The value of the sample of `name` whose labels include `labels`; a histogram's `_count` by `metricName`. */
async function value (registry: Registry, name: string, labels: Record<string, string> = {}, metricName?: string): Promise<number | undefined> {
  const found = (await samples(registry, name)).find((sample) =>
    (metricName === undefined || sample.metricName === metricName) &&
    Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))
  return found?.value
}

function metricsApp (registry: Registry, options: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metrics: { registry },
    actions: [add, fails],
    sayLimit: false,
    authorize: (request: { query: Record<string, unknown> }) => { if (request.query.deny !== undefined) throw new Error('go away') },
    ...options
  }
}

test('a scrape after a scripted session shows exact counts: connections, handshakes, actions, messages, errors', { timeout: 60_000 }, async (t) => {
  const registry = new Registry()
  const { app, url } = await startApp(t, metricsApp(registry))
  const clients = [await TestClient.connect(t, url), await TestClient.connect(t, url), await TestClient.connect(t, url)]
  for (const [index, client] of clients.entries()) assert.equal((await client.action('add', { a: index, b: 1 })).sum, index + 1)
  assert.equal((await clients[0]!.action('fails')).error, 'it broke')
  assert.equal((await clients[0]!.action('add', { a: 1 })).error, 'b is a required parameter for this action')
  assert.equal((await clients[1]!.request({ event: 'noSuchEvent' })).error, 'verb not found or not allowed')
  for (const denied of [1, 2]) assert.equal((await fetch(`${url}/primus/?deny=${denied}`)).status, 401)
  const response = await fetch(`${url}/api/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1,"b":1}' })
  assert.equal(response.status, 200)
  await clients[2]!.request({ event: 'roomAdd', room: 'defaultRoom' })
  await clients[1]!.request({ event: 'roomAdd', room: 'defaultRoom' })
  await clients[1]!.request({ event: 'say', room: 'defaultRoom', message: 'hello' })
  await clients[2]!.next((message) => message.message === 'hello')

  assert.equal(await value(registry, `${P}connections_open`), 3)
  assert.equal(await value(registry, `${P}handshakes_accepted_total`), 3)
  assert.equal(await value(registry, `${P}handshakes_refused_total`, { reason: 'unauthorized' }), 2)
  const count = `${P}action_duration_seconds_count`
  assert.equal(await value(registry, `${P}action_duration_seconds`, { action: 'add', transport: 'socket', outcome: 'ok' }, count), 3)
  assert.equal(await value(registry, `${P}action_duration_seconds`, { action: 'add', transport: 'socket', outcome: 'refused' }, count), 1)
  assert.equal(await value(registry, `${P}action_duration_seconds`, { action: 'fails', transport: 'socket', outcome: 'error' }, count), 1)
  assert.equal(await value(registry, `${P}action_duration_seconds`, { action: 'add', transport: 'http', outcome: 'ok' }, count), 1)
  assert.equal(await value(registry, `${P}messages_received_total`, { event: 'action' }), 5)
  assert.equal(await value(registry, `${P}messages_received_total`, { event: 'unknown' }), 1)
  assert.equal(await value(registry, `${P}messages_received_total`, { event: 'say' }), 1)
  assert.equal(await value(registry, `${P}protocol_errors_total`, { code: 'unknown_event' }), 1)
  assert.equal(await value(registry, `${P}messages_sent_total`, { context: 'api' }), 3, 'the welcomes')
  // 5 actions, the unknown event, 2 roomAdd, 1 say.
  assert.equal(await value(registry, `${P}messages_sent_total`, { context: 'response' }), 9)
  assert.equal(await value(registry, `${P}messages_sent_total`, { context: 'user' }), 1, 'the say reached one member (no echo)')
  assert.equal(await value(registry, `${P}say_fanout_duration_seconds`, {}, `${P}say_fanout_duration_seconds_count`), 1)
  // The histogram as Prometheus reads it: its type, cumulative buckets up to +Inf, the sum and the count.
  const histogram = await registry.getSingleMetricAsString(`${P}action_duration_seconds`)
  assert.match(histogram, /^# TYPE actionhero_ws_action_duration_seconds histogram$/m)
  const okBuckets = [...histogram.matchAll(/^actionhero_ws_action_duration_seconds_bucket\{action="add",transport="socket",outcome="ok",le="([^"]+)"\} (\d+)$/gm)]
  assert.equal(okBuckets.length, 13, '12 bounds and +Inf')
  assert.deepEqual(okBuckets.map(([, , count]) => Number(count)), okBuckets.map(([, , count]) => Number(count)).sort((a, b) => a - b), 'cumulative')
  assert.deepEqual(okBuckets.at(-1)?.slice(1), ['+Inf', '3'])
  assert.match(histogram, /^actionhero_ws_action_duration_seconds_count\{action="add",transport="socket",outcome="ok"\} 3$/m)
  assert.match(histogram, /^actionhero_ws_action_duration_seconds_sum\{action="add",transport="socket",outcome="ok"\} 0\.\d+/m)
  assert.equal(await value(registry, `${P}rooms`), 1)
  assert.equal(await value(registry, `${P}room_members`), 2)
  assert.ok((await value(registry, `${P}received_bytes_total`) ?? 0) > 100)
  assert.ok((await value(registry, `${P}sent_bytes_total`) ?? 0) > 100)
  assert.equal(await value(registry, `${P}slow_readers_cut_total`), 0)
  assert.equal(registry.getSingleMetric(`${P}redis_up`), undefined, 'no Redis, no redis_up (a 0 would read as an outage)')

  clients[2]!.end()
  await waitFor(async () => await value(registry, `${P}connections_open`) === 2)
  await waitFor(async () => await value(registry, `${P}room_members`) === 1)
  await app.close()
  assert.equal(registry.getSingleMetric(`${P}connections_open`), undefined, 'a closed app leaves nothing in the registry')
})

test('every transformer counts alike: the connection, its messages and their bytes both ways', { timeout: 60_000 }, async (t) => {
  for (const transformer of ['engine.io', 'sockjs', 'faye']) {
    const registry = new Registry()
    const { app, url } = await startApp(t, { metrics: { registry }, actions: [add], server: { transformer } })
    const client = new NodeClient({ url, Primus: app.actionheroWs.primus.Socket })
    t.after(() => client.disconnect())
    await client.connect()
    assert.equal((await client.action<{ sum: number }>('add', { a: 2, b: 3 })).sum, 5, transformer)
    assert.equal(await value(registry, `${P}connections_open`), 1, transformer)
    assert.equal(await value(registry, `${P}messages_received_total`, { event: 'action' }), 1, transformer)
    assert.equal(await value(registry, `${P}messages_sent_total`, { context: 'api' }), 1, `${transformer}: the welcome`)
    assert.ok((await value(registry, `${P}received_bytes_total`) ?? 0) > 50, transformer)
    assert.ok((await value(registry, `${P}sent_bytes_total`) ?? 0) > 50, transformer)
    client.disconnect()
    await app.close()
  }
})

test('a slow reader cut, and history replays by outcome, are counted', { timeout: 60_000 }, async (t) => {
  const registry = new Registry()
  const { app, url, port } = await startApp(t, { metrics: { registry }, maxBufferedBytes: 256 * 1024 })
  await deafWebSocket(t, port, webSocketPath('websockets'))
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [deaf] = [...app.actionheroWs.connections.values()]
  const chunk = { text: 'x'.repeat(64 * 1024) }
  for (let sent = 0; deaf?.open === true && sent < 2000; sent++) {
    deaf.send(chunk)
    if (sent % 20 === 0) await sleep(1)
  }
  assert.equal(deaf?.open, false)
  assert.equal(await value(registry, `${P}slow_readers_cut_total`), 1)

  const speaker = await TestClient.connect(t, url)
  const joined = await speaker.request({ event: 'roomAdd', room: 'defaultRoom' })
  await speaker.request({ event: 'say', room: 'defaultRoom', message: 'kept' })
  const rejoining = await TestClient.connect(t, url)
  const recovered = await rejoining.request({ event: 'roomAdd', room: 'defaultRoom', since: { epoch: joined.epoch, offset: joined.offset } })
  assert.equal(recovered.recovered, true)
  const late = await TestClient.connect(t, url)
  const lost = await late.request({ event: 'roomAdd', room: 'defaultRoom', since: { epoch: 'an epoch long gone', offset: 1 } })
  assert.equal(lost.recovered, false)
  assert.equal(await value(registry, `${P}history_replays_total`, { outcome: 'recovered' }), 1)
  assert.equal(await value(registry, `${P}history_replays_total`, { outcome: 'too_old' }), 1)
})

test('labels stay bounded: 1,000 room names and 1,000 unknown action names add no label value', { timeout: 120_000 }, async (t) => {
  const registry = new Registry()
  const { app, url } = await startApp(t, metricsApp(registry, { rooms: [] }))
  const client = await TestClient.connect(t, url)
  const names = Array.from({ length: 1000 }, (_, index) => `room-${index}`)
  for (const name of names) await app.actionheroWs.rooms.add(name)
  await Promise.all(names.map(async (room) => {
    assert.equal((await client.request({ event: 'roomAdd', room })).status, 'OK')
    assert.equal((await client.request({ event: 'say', room, message: 'x' })).status, 'OK')
    assert.equal((await client.action(`made-up-${room}`)).error, 'unknown action or invalid apiVersion')
  }))
  const scrape = await registry.metrics()
  assert.doesNotMatch(scrape, /room-\d|made-up/)
  const actions = new Set((await samples(registry, `${P}action_duration_seconds`)).map((sample) => sample.labels.action))
  assert.deepEqual([...actions], ['(unknown)'])
  assert.equal(await value(registry, `${P}action_duration_seconds`, { action: '(unknown)', outcome: 'refused' }, `${P}action_duration_seconds_count`), 1000)
  assert.equal(await value(registry, `${P}rooms`), 1000)
  assert.equal(await value(registry, `${P}room_members`), 1000)
  const series = scrape.split('\n').filter((line) => line.startsWith(P)).length
  assert.ok(series < 150, `a fixed number of series, whatever the names (got ${series})`)
})

test('two apps share one registry: both counted, a closed one no longer, the last one removes the metrics', { timeout: 60_000 }, async (t) => {
  const registry = new Registry()
  const one = await startApp(t, metricsApp(registry))
  const two = await startApp(t, metricsApp(registry))
  await TestClient.connect(t, one.url)
  await TestClient.connect(t, two.url)
  await TestClient.connect(t, two.url)
  assert.equal(await value(registry, `${P}connections_open`), 3)
  assert.equal(await value(registry, `${P}handshakes_accepted_total`), 3)
  await two.app.close()
  assert.equal(await value(registry, `${P}connections_open`), 1)
  assert.equal(await value(registry, `${P}handshakes_accepted_total`), 3, 'what was counted stays counted')
  await one.app.close()
  assert.deepEqual((await registry.getMetricsAsJSON()).map((metric) => metric.name), [])
  // And again, from nothing.
  const three = await startApp(t, metricsApp(registry, { metrics: { registry, prefix: 'chat_' } }))
  await TestClient.connect(t, three.url)
  assert.equal(await value(registry, 'chat_connections_open'), 1)
})

test('the metrics option: checked at register; a name another metric has fails register; off by default', { timeout: 30_000 }, async (t) => {
  const registry = new Registry()
  for (const [metrics, problem] of [
    ['yes', /"metrics" option must be an object/],
    [{ prefix: '9lives' }, /"metrics.prefix" option must be a Prometheus name prefix/],
    [{ registry: {} }, /"metrics.registry" option must be a prom-client Registry/],
    [{ route: '/metrics' }, /"metrics.route" option is not a known option/]
  ] as const) {
    const app = Fastify({ logger: false })
    t.after(() => app.close())
    await assert.rejects(async () => { await app.register(actionheroWs, { metrics: metrics as never, clientJsName: null }) }, (error: Error & { code?: string }) => {
      assert.equal(error.code, 'FST_AHWS_INVALID_OPTION')
      assert.match(error.message, problem)
      return true
    })
  }
  // eslint-disable-next-line no-new
  new Counter({ name: `${P}connections_open`, help: 'the app\'s own', registers: [registry] })
  const clash = Fastify({ logger: false })
  t.after(() => clash.close())
  await assert.rejects(async () => { await clash.register(actionheroWs, { metrics: { registry }, clientJsName: null }) }, /could not register its metrics/)
  assert.deepEqual((await registry.getMetricsAsJSON()).map((metric) => metric.name), [`${P}connections_open`], 'nothing of ours is left behind')

  const off = new Registry()
  const { url } = await startApp(t, { actions: [add] })
  await TestClient.connect(t, url)
  assert.deepEqual(await off.getMetricsAsJSON(), [])
})

test('metrics: true registers in prom-client\'s default registry, and closing takes them out of it', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { metrics: true })
  await TestClient.connect(t, url)
  assert.match(await defaultRegistry.getSingleMetricAsString(`${P}connections_open`), /^actionhero_ws_connections_open 1$/m)
  await app.close()
  assert.equal(defaultRegistry.getSingleMetric(`${P}connections_open`), undefined)
})

test('without prom-client installed, metrics: true fails register and says what to install', { timeout: 60_000 }, async () => {
  const fixture = fileURLToPath(new URL('fixtures/without-prom-client.ts', import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], { timeout: 50_000 })
  assert.deepEqual(JSON.parse(stdout), {
    code: 'FST_AHWS_INVALID_OPTION',
    message: '"metrics" option needs the package "prom-client", an optional peer dependency: npm install prom-client'
  })
})

test('with Redis: redis_up goes 1, then 0 while Redis is cut, then 1 again; it goes with the last app with Redis', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const proxy = await FaultProxy.start(6379)
  t.after(() => proxy.close())
  const registry = new Registry()
  const withoutRedis = await startApp(t, metricsApp(registry))
  const withRedis = await startApp(t, metricsApp(registry, { redis: { url: proxy.url, prefix: sharedPrefix(t), heartbeatInterval: 250, nodeTimeout: 5000, requestTimeout: 500 } }))
  assert.equal(await value(registry, `${P}redis_up`), 1)
  proxy.cut()
  await waitFor(async () => await value(registry, `${P}redis_up`) === 0, 10_000)
  proxy.heal()
  await waitFor(async () => await value(registry, `${P}redis_up`) === 1, 15_000)
  await withRedis.app.close()
  assert.equal(registry.getSingleMetric(`${P}redis_up`), undefined, 'the closed app is not counted')
  await TestClient.connect(t, withoutRedis.url)
  assert.equal(await value(registry, `${P}connections_open`), 1)
})

test('with Redis: the members of a node killed are counted as reaped, a malformed bus message as dropped', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const doomed = await cluster.startNode()
  const registry = new Registry()
  const { url } = await startApp(t, metricsApp(registry, { redis: { url: SHARED_REDIS, prefix: cluster.prefix, heartbeatInterval: 250, nodeTimeout: 1500 } }))
  const local = await TestClient.connect(t, url)
  assert.equal((await local.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  for (const rooms of [['defaultRoom', 'anotherRoom'], ['defaultRoom']]) {
    const victim = await TestClient.connect(t, doomed.url)
    for (const room of rooms) assert.equal((await victim.request({ event: 'roomAdd', room })).data, true)
  }
  await doomed.stop('SIGKILL')
  await waitFor(async () => await value(registry, `${P}members_reaped_total`) === 3, 15_000)

  const publisher = new Redis(SHARED_REDIS)
  t.after(() => publisher.disconnect())
  await publisher.publish(new RedisSchema(cluster.prefix).roomChannel('defaultRoom'), 'not a message of the bus')
  await waitFor(async () => await value(registry, `${P}bus_messages_dropped_total`) === 1, 5000)
  // A say after it arrives in order on the same connection: the node is still listening.
  const other = await TestClient.connect(t, url)
  assert.equal((await other.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  await other.request({ event: 'say', room: 'defaultRoom', message: 'still here' })
  await local.next((message) => message.message === 'still here')
  assert.equal(await value(registry, `${P}bus_messages_dropped_total`), 1)
})
