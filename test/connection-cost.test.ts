/**
 * What a connection costs the server (issue 14): the listeners the plugin puts on a spark are shared
 * by every connection of a server, not closures made for each one (the one closure a connection gets
 * is the fast path's `message` listener on its socket; bench/connection-memory.ts measures the rest).
 * Shared, each still acts for the connection of the spark it is called on.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { Spark } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'

type Listened = Spark & { listeners: (event: string) => Array<(...args: unknown[]) => unknown> }

/** Connects `count` clients and returns them with their sparks, in the same order. */
async function connectSome (t: TestContext, app: FastifyInstance, url: string, count: number): Promise<Array<{ client: TestClient, spark: Listened }>> {
  const connected = []
  for (let i = 0; i < count; i++) {
    const known = new Set(app.actionheroWs.connections.keys())
    const client = await TestClient.connect(t, url)
    await waitFor(() => app.actionheroWs.connections.size === known.size + 1)
    const id = [...app.actionheroWs.connections.keys()].find((key) => !known.has(key)) ?? ''
    const spark = app.actionheroWs.primus.spark(id)
    assert.ok(spark)
    connected.push({ client, spark: spark as Listened })
  }
  return connected
}

/** Each client asks for its connection's details: the reply names the connection of its own spark. */
async function assertEachAnsweredOnItsOwn (connected: Array<{ client: TestClient, spark: Spark }>): Promise<void> {
  for (const { client, spark } of connected) {
    const reply = await client.request({ event: 'detailsView' })
    assert.equal((reply.data as { id?: unknown }).id, spark.id)
  }
}

test('every connection of a server shares the same data, error and outgoing::data listeners', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const [first, second] = await connectSome(t, app, url, 2)
  assert.ok(first !== undefined && second !== undefined)
  for (const event of ['data', 'error', 'outgoing::data']) {
    // The plugin's is the last one added (the transformer's writer comes first on outgoing::data).
    const listener = first.spark.listeners(event).at(-1)
    assert.equal(typeof listener, 'function', `the plugin listens to ${event}`)
    assert.equal(second.spark.listeners(event).at(-1), listener, `both connections share one ${event} listener`)
  }
  await assertEachAnsweredOnItsOwn([first, second])
})

test('through Primus (a message transformer), the shared data listener answers each connection on its own', { timeout: 30_000 }, async (t) => {
  let transformed = 0
  const { app, url } = await startApp(t, {}, {
    // One argument: a synchronous transformer (Primus waits for `next` from one that takes two).
    setup: (app) => { app.actionheroWs.primus.transform('incoming', (_packet: unknown) => { transformed++ }) }
  })
  const connected = await connectSome(t, app, url, 3)
  await assertEachAnsweredOnItsOwn(connected)
  assert.equal(transformed, connected.length, 'every request went through Primus')
})

test('the 101 answer and the welcome leave the server in one write', { timeout: 30_000 }, async (t) => {
  const held: Array<{ corked: number, buffered: number }> = []
  const { url } = await startApp(t, {}, {
    // onConnect runs right after the welcome is written: both are still held in the corked socket.
    setup: (app) => {
      app.actionheroWs.addHook('onConnect', (connection) => {
        const socket = connection.rawSocket
        if (socket !== null) held.push({ corked: socket.writableCorked, buffered: socket.writableLength })
      })
    }
  })
  const client = await TestClient.connect(t, url)
  assert.equal(held.length, 1)
  assert.ok((held[0]?.corked ?? 0) > 0, 'the socket is corked while the connection is greeted')
  assert.ok((held[0]?.buffered ?? 0) > 0, 'the 101 answer and the welcome wait to leave together')
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'and the connection works once uncorked')
})

test('what the cork holds back is no slow reader: a maxBufferedBytes below the greeting keeps the connection', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { maxBufferedBytes: 16 })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  assert.equal(app.actionheroWs.connections.size, 1)
})
