/**
 * What a connection costs the server (issue 14): the listeners the plugin puts on a spark are shared
 * by every connection of a server, not closures made for each one (the plugin's own transformer wires
 * each socket as Primus's does; bench/connection-memory.ts measures the rest). Shared, each still acts
 * for the connection of the spark it is called on.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { Spark } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'

type Listened = Spark & { listeners: (event: string) => Array<(...args: unknown[]) => unknown> }

/** A stream's low-level writers (node:stream's `Writable#_write` and `_writev`), wrapped to see each write. */
interface WritableInternals {
  _write: (chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) => void
  _writev: (chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void) => void
}

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

test('every connection of a server shares the same data and error listeners', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const [first, second] = await connectSome(t, app, url, 2)
  assert.ok(first !== undefined && second !== undefined)
  for (const event of ['data', 'error']) {
    // The plugin's is the last one added.
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
  /** Every write the server's sockets hand to the kernel, as the text it carries. */
  const writes: string[] = []
  const { url } = await startApp(t, {}, {
    setup: (app) => {
      app.server.on('connection', (socket: Socket & WritableInternals) => {
        const { _write: write, _writev: writev } = socket
        socket._write = function (chunk, encoding, callback) {
          writes.push(String(chunk))
          return write.call(this, chunk, encoding, callback)
        }
        socket._writev = function (chunks, callback) {
          writes.push(chunks.map(({ chunk }) => String(chunk)).join(''))
          return writev.call(this, chunks, callback)
        }
      })
    }
  })
  const client = await TestClient.connect(t, url)
  const greeting = writes.findIndex((written) => written.includes('Welcome to the actionhero api'))
  assert.ok(greeting !== -1, 'the welcome was written')
  assert.match(writes[greeting] ?? '', /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'in the same write as the 101 answer')
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'and the connection works')
})

test('what the cork holds back is no slow reader: a maxBufferedBytes below the greeting keeps the connection', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { maxBufferedBytes: 16 })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  assert.equal(app.actionheroWs.connections.size, 1)
})
