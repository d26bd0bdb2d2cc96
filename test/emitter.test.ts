/**
 * The emitter (issue 21): a plain Node.js worker process, no Fastify, reaches a cluster of three node
 * processes through Redis, and through a Redis Cluster: it says into a room (stamped and kept, so the
 * message is in the history and recoverable), sends to a fingerprint and kicks a connection; every
 * client gets exactly what it should, once. It loads neither Fastify, Primus nor ws. In one process:
 * the `say` middleware of the delivering node runs on a worker's message, `onSayReceive` does not.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { createEmitter, type EmitterOptions } from '../lib/emitter.js'
import { ERRORS, InvalidOptionError, type RoomMembers } from '../lib/index.js'
import { createCluster, needRedis, needRedisServer, sharedPrefix, SHARED_REDIS, startRedisCluster, type TestCluster } from './cluster-helpers.js'
import { startApp, TestClient } from './helpers.js'

type Message = Record<string, unknown>

interface Worker {
  call: <T = unknown>(method: string, ...args: unknown[]) => Promise<T>
  process: ChildProcess
}

/** The worker fixture, with an emitter of `options`; stopped when the test ends. */
async function startWorker (t: TestContext, options: EmitterOptions): Promise<Worker> {
  const child = fork(new URL('./fixtures/emitter-worker.ts', import.meta.url), {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AHWS_EMITTER_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.after(async () => {
    if (child.connected) child.disconnect()
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  await new Promise<void>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean }) => { if (message.ready === true) resolve() })
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)))
  })
  let next = 0
  const call = <T>(method: string, ...args: unknown[]): Promise<T> => new Promise((resolve, reject) => {
    const id = ++next
    const listener = (message: { id?: number, result?: T, error?: string }): void => {
      if (message.id !== id) return
      child.removeListener('message', listener)
      if (message.error !== undefined) reject(new Error(message.error))
      else resolve(message.result as T)
    }
    child.on('message', listener)
    child.send({ id, method, args })
  })
  return { call, process: child }
}

async function member (t: TestContext, url: string, fingerprint: string | null, rooms: string[]) {
  const options = fingerprint === null ? {} : { transport: { headers: { cookie: `sessionID=${fingerprint}` } } }
  const client = await TestClient.connect(t, url, options)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  for (const room of rooms) assert.equal((await client.request({ event: 'roomAdd', room })).data, true)
  return Object.assign(client, { id: data.id })
}

const said = (text: string, room = 'defaultRoom') => (message: Message) => message.context === 'user' && message.room === room && message.message === text
const count = (client: TestClient, predicate: (message: Message) => boolean): number => client.messages.filter(predicate).length

/** The worker's round on three nodes: say, send to a fingerprint, kick; each client gets its share once. */
async function workerRound (t: TestContext, cluster: TestCluster, redis: EmitterOptions['redis']): Promise<void> {
  const [a, b, c] = await Promise.all([cluster.startNode(), cluster.startNode(), cluster.startNode()])
  const alice = await member(t, a!.url, null, ['defaultRoom'])
  const bob = await member(t, b!.url, 'visitor', ['defaultRoom'])
  const carol = await member(t, c!.url, 'visitor', ['defaultRoom'])
  const dave = await member(t, c!.url, null, ['defaultRoom'])
  const before = await alice.request({ event: 'roomAdd', room: 'anotherRoom' }) as { epoch: string, offset: number }
  const worker = await startWorker(t, { redis })

  assert.equal((await worker.call<RoomMembers>('roomView', 'defaultRoom')).membersCount, 4)
  await worker.call('say', 'anotherRoom', 'a job finished', 'worker')
  await worker.call('say', 'defaultRoom', 'a job finished', 'worker')
  assert.equal(await worker.call('sendToFingerprint', 'visitor', { context: 'job', done: 1 }), 2)
  const daveEnded = dave.closed()
  assert.equal(await worker.call('disconnect', dave.id, { reason: 'the job says bye' }), 1)
  assert.deepEqual(await dave.next((message) => message.context === 'closed'), { context: 'closed', reason: 'the job says bye', reconnect: false })
  await daveEnded

  // A marker after everything the worker did: by then each client has all it will get of it.
  await a!.call('broadcast', { room: 'defaultRoom', message: 'marker' })
  for (const client of [alice, bob, carol]) await client.next(said('marker'))
  for (const client of [alice, bob, carol, dave]) {
    assert.equal(count(client, said('a job finished')), 1, 'the worker\'s message, once')
    const message = client.messages.find(said('a job finished'))!
    assert.equal(message.from, 'worker')
    assert.equal(typeof message.offset, 'number', 'stamped with its offset and epoch, as a node\'s')
  }
  for (const client of [bob, carol]) assert.equal(count(client, (message) => message.context === 'job'), 1, 'the push, once, to each tab of the visitor')
  assert.equal(typeof bob.messages.find((message) => message.context === 'job')!.pushOffset, 'number', 'kept in the visitor\'s push stream')
  assert.equal(count(alice, (message) => message.context === 'job'), 0)
  for (const client of [alice, bob, carol]) assert.equal(client.messages.some((message) => message.context === 'closed'), false, 'only dave was kicked')

  // In the history, and recoverable: a client that was at the position before it gets it replayed.
  const erin = await member(t, b!.url, null, [])
  const recovered = await erin.request({ event: 'roomAdd', room: 'anotherRoom', since: { epoch: before.epoch, offset: before.offset } })
  assert.equal(recovered.recovered, true)
  assert.equal(count(erin, said('a job finished', 'anotherRoom')), 1, 'replayed from the history')
  const history = await erin.request({ event: 'roomHistory', room: 'anotherRoom' }) as { data: Message[] }
  assert.deepEqual(history.data.map(({ message, from }) => ({ message, from })), [{ message: 'a job finished', from: 'worker' }])

  const loaded = await worker.call<string[]>('modules')
  assert.equal(loaded.includes('ioredis'), true, 'the worker speaks to Redis')
  for (const framework of ['fastify', 'primus', 'ws', 'fastify-plugin', '@fastify/static']) {
    assert.equal(loaded.includes(framework), false, `the worker did not load ${framework}`)
  }
  cluster.assertHealthy()
}

test('a worker process with the emitter, on three nodes over Redis: say, sendToFingerprint and a kick, each delivered once', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  await workerRound(t, cluster, { url: cluster.redisUrl, prefix: cluster.prefix })
})

test('the same worker on a Redis Cluster (sharded pub/sub)', { timeout: 90_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const redis = await startRedisCluster(t)
  const cluster = createCluster(t, { redis: { cluster: redis.nodes } })
  await workerRound(t, cluster, { cluster: redis.nodes, prefix: cluster.prefix })
})

test('a worker\'s message skips onSayReceive; the say middleware of the node that delivers it runs per receiver', { timeout: 20_000 }, async (t) => {
  if (!await needRedis(t)) return
  const prefix = sharedPrefix(t)
  const { app, url } = await startApp(t, { redis: { url: SHARED_REDIS, prefix }, history: false }, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'tag',
        onSayReceive: () => { throw new Error('only the sending node runs this') },
        say: (connection, _room, payload) => ({ ...payload, message: `${String(payload.message)} for ${connection.id}` })
      })
    }
  })
  const client = await member(t, url, null, ['defaultRoom'])
  const emitter = createEmitter({ redis: { url: SHARED_REDIS, prefix }, history: false })
  t.after(() => emitter.close())
  await emitter.broadcast('defaultRoom', 'hello')
  const message = await client.next((received) => received.context === 'user')
  assert.deepEqual({ from: message.from, message: message.message }, { from: 0, message: `hello for ${client.id}` })
  assert.equal(message.offset, undefined, 'history off: no position')
  await assert.rejects(emitter.say('no-such-room', 'x'), { message: ERRORS.roomNotFound })
  await assert.rejects(emitter.say('', 'x'), { message: ERRORS.roomRequired })
  await assert.rejects(emitter.send(client.id, [] as unknown as object), { code: 'FST_AHWS_INVALID_MESSAGE' })
  assert.equal(await emitter.send(client.id, { context: 'alert', text: 'direct' }), true)
  assert.equal((await client.next((received) => received.context === 'alert')).text, 'direct')
  assert.equal(await emitter.send('nobody', { text: 'x' }), false)
  assert.equal(await emitter.reauthorize(client.id), 1)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'no authorize: reauthorize keeps the connection')
  assert.equal(app.actionheroWs.connections.size, 1)
  // With a client of the app's: used, and left open by close().
  const own = new Redis(SHARED_REDIS)
  t.after(() => own.disconnect())
  const withClient = createEmitter({ redis: { client: own, prefix }, history: false })
  assert.equal((await withClient.roomView('defaultRoom')).membersCount, 1)
  await withClient.close()
  assert.equal(await own.ping(), 'PONG', 'the app\'s client stays open')
  await assert.rejects(withClient.roomView('defaultRoom'), /the emitter is closed/)
  assert.throws(() => createEmitter({} as EmitterOptions), InvalidOptionError)
  assert.throws(() => createEmitter({ redis: {}, rooms: [] } as unknown as EmitterOptions), InvalidOptionError)
})
