/**
 * The contract of lib/transport (its header), pinned: the default transformer is the plugin's own,
 * with Primus's websockets client in the generated library; whatever observes messages the way Primus
 * documents it (a `data` listener, `incoming::data`/`outgoing::data` listeners, message transformers,
 * a parser, a Primus plugin, in `connection` or in a spark initialiser) sees them, and the plugin still
 * answers; while nothing does, the direct path is taken; frames that arrive with the handshake are
 * read in order; when the plugin's transformer cannot be made, the boot says why and messages flow.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { Spark } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'
import { clientFrame, connectTcp } from './transformer-helpers.js'

const require = createRequire(import.meta.url)

type Message = Record<string, unknown>

/** A plain `ws` client on the Primus path, keeping every frame as the text that arrived. */
async function rawClient (t: TestContext, url: string): Promise<{ socket: WebSocket, frames: string[] }> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => socket.terminate())
  const frames: string[] = []
  socket.on('message', (data) => frames.push(String(data)))
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
  return { socket, frames }
}

/** The only spark of `app`, once its connection is open. */
async function onlySpark (app: FastifyInstance): Promise<Spark> {
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [id] = app.actionheroWs.connections.keys()
  const spark = app.actionheroWs.primus.spark(id ?? '')
  assert.ok(spark)
  return spark
}

/** Counts the frames Primus decodes (or encodes) itself: none while the direct path takes them. */
function countDecodes (app: FastifyInstance, which: 'decoder' | 'encoder' = 'decoder'): () => number {
  const primus = app.actionheroWs.primus as unknown as Record<typeof which, (this: unknown, ...args: unknown[]) => unknown>
  const original = primus[which]
  let calls = 0
  primus[which] = function (...args: unknown[]) {
    calls++
    return original.apply(this, args)
  }
  return () => calls
}

test('the default transformer is the plugin\'s own, on its own ws; the generated library carries Primus\'s websockets client', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  await TestClient.connect(t, url)
  const spark = await onlySpark(app)
  assert.ok(spark.socket instanceof WebSocket, 'the spark\'s socket is a WebSocket of the plugin\'s ws')
  // Loaded by its path inside Primus (it exports none): the library must carry it, byte for byte.
  const client = require('primus/transformers/websockets/client') as () => void
  assert.ok(app.actionheroWs.primus.library().includes(client.toString()))
  // The same library as Primus's own websockets transformer makes (the prebuilt one is made so).
  const { createPrimus } = await import('../lib/primus.js')
  const primus = createPrimus({ transformer: 'websockets', parser: 'JSON', pathname: app.actionheroWs.primus.pathname, authorization: () => {} })
  t.after(() => primus.destroy({ close: false }))
  assert.equal(app.actionheroWs.primus.library(), primus.library())
})

test('frames sent with the handshake, before Primus announces the connection, are answered in order', { timeout: 30_000 }, async (t) => {
  const { port } = await startApp(t)
  const socket = connectTcp(t, port)
  const frames = [1, 2, 3].map((messageId) => clientFrame(`{"event":"detailsView","messageId":${messageId}}`))
  socket.write(Buffer.concat([Buffer.from(`GET /primus?_primuscb=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'), ...frames]))
  let received = ''
  socket.on('data', (data) => { received += data.toString('latin1') })
  await waitFor(() => (received.match(/"messageId":\d/g) ?? []).length === 3)
  assert.deepEqual(received.match(/"messageId":\d/g), ['"messageId":1', '"messageId":2', '"messageId":3'])
  assert.ok(received.indexOf('Welcome') < received.indexOf('"messageId":1'), 'after the welcome')
})

test('a spark data listener added by the app sees every object message, and the direct path comes back when it goes', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const decodes = countDecodes(app)
  const client = await TestClient.connect(t, url)
  const spark = await onlySpark(app)
  await client.request({ event: 'detailsView' })
  assert.equal(decodes(), 0, 'with nobody else listening, frames take the direct path')

  const seen: unknown[] = []
  const listener = (data: unknown): void => { seen.push(data) }
  spark.on('data', listener)
  const reply = await client.request({ event: 'detailsView', tag: 'observed' })
  assert.equal(reply.status, 'OK', 'the plugin still answers')
  assert.deepEqual(seen, [{ event: 'detailsView', tag: 'observed', messageId: reply.messageId }])
  assert.equal(decodes(), 1, 'the frame went through Primus')

  ;(spark as unknown as { removeListener: (event: string, fn: (data: unknown) => void) => void }).removeListener('data', listener)
  await client.request({ event: 'detailsView' })
  assert.equal(decodes(), 1, 'the direct path is back once the listener is gone')
  assert.equal(seen.length, 1)
})

test('incoming::data and outgoing::data listeners see the raw frames both ways; when they go, the direct path comes back', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { actions: [{ name: 'hello', run: () => ({ hello: 'world' }) }] })
  const decodes = countDecodes(app)
  const encodes = countDecodes(app, 'encoder')
  const client = await TestClient.connect(t, url)
  const spark = await onlySpark(app) as unknown as { on: (event: string, fn: (data: unknown) => void) => void, removeListener: (event: string, fn: (data: unknown) => void) => void }
  const incoming: unknown[] = []
  const outgoing: unknown[] = []
  const onIncoming = (raw: unknown): void => { incoming.push(String(raw)) }
  const onOutgoing = (raw: unknown): void => { outgoing.push(raw) }
  spark.on('incoming::data', onIncoming)
  spark.on('outgoing::data', onOutgoing)
  const reply = await client.action('hello')
  assert.equal(reply.hello, 'world')
  assert.equal(incoming.length, 1)
  assert.deepEqual(JSON.parse(incoming[0] as string), { event: 'action', params: { action: 'hello' }, messageId: reply.messageId })
  assert.deepEqual(outgoing.map((frame) => JSON.parse(String(frame))), [reply])
  assert.deepEqual([decodes(), encodes()], [1, 1], 'both went through Primus')

  spark.removeListener('incoming::data', onIncoming)
  spark.removeListener('outgoing::data', onOutgoing)
  assert.equal((await client.action('hello')).hello, 'world')
  assert.deepEqual([decodes(), encodes()], [1, 1], 'the direct path is back both ways')
})

test('a Primus plugin whose spark initialiser listens to outgoing::data sees every message from the first, the welcome included', { timeout: 30_000 }, async (t) => {
  const seen: string[] = []
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      // Primus's documented plugin shape; the spark initialiser is how plugins such as primus-emitter hook every spark.
      app.actionheroWs.primus.plugin('observer', {
        server: (primus: { Spark: { prototype: { initialise: (this: { on: (event: string, fn: (data: unknown) => void) => void }) => void } } }) => {
          primus.Spark.prototype.initialise = function () { this.on('outgoing::data', (data) => seen.push(String(data))) }
        }
      })
    }
  })
  const client = await TestClient.connect(t, url)
  await onlySpark(app)
  await client.request({ event: 'detailsView' })
  assert.ok(seen[0]?.includes('Welcome'), `the welcome went through Primus: ${JSON.stringify(seen)}`)
  assert.equal(seen.length, 2)
})

test('an incoming transform added after a client connected applies to that client', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {
    actions: [{ name: 'echo', inputs: { type: 'object', properties: { stamped: { type: 'boolean' } } }, run: ({ stamped }) => ({ stamped }) }]
  })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('echo')).stamped, undefined)
  app.actionheroWs.primus.transform('incoming', (packet: { data: { params?: Message } }) => {
    if (packet.data.params !== undefined) packet.data.params.stamped = true
  })
  assert.equal((await client.action('echo')).stamped, true)
})

test('a parser that is not JSON writes the welcome and the replies', { timeout: 30_000 }, async (t) => {
  // A parser of the app's own: JSON behind a marker, as a Primus parser object ({ encoder, decoder }).
  const parser = {
    encoder: (data: unknown, done: (error: Error | null, encoded?: string) => void) => done(null, `P${JSON.stringify(data)}`),
    decoder: (data: unknown, done: (error: Error | null, decoded?: unknown) => void) => {
      try {
        done(null, typeof data === 'string' && data.startsWith('P') ? JSON.parse(data.slice(1)) : data)
      } catch (error) {
        done(error as Error)
      }
    },
    library: ''
  }
  const { url } = await startApp(t, { server: { parser: parser as never } })
  const { socket, frames } = await rawClient(t, url)
  await waitFor(() => frames.length === 1)
  assert.deepEqual(frames[0], 'P{"context":"api","welcome":"Hello! Welcome to the actionhero api"}')
  socket.send('P{"event":"detailsView","messageId":1}')
  await waitFor(() => frames.length === 2)
  assert.match(frames[1] ?? '', /^P\{"status":"OK","data":\{/)
})

test('U+2028 and U+2029 are escaped as Primus escapes them, on the direct path and through Primus alike', { timeout: 30_000 }, async (t) => {
  const text = 'line\u2028paragraph\u2029end'
  const frameOf = async (observed: boolean): Promise<{ reply: string, chat: string }> => {
    const { app, url } = await startApp(t, { actions: [{ name: 'text', run: () => ({ text }) }] })
    // A transformer of one argument is synchronous for Primus (two: it waits for the callback).
    if (observed) app.actionheroWs.primus.transform('outgoing', (_packet: unknown) => undefined)
    const listener = await rawClient(t, url)
    const speaker = await rawClient(t, url)
    for (const { socket } of [listener, speaker]) socket.send('{"event":"roomAdd","room":"defaultRoom","messageId":"join"}')
    await waitFor(() => [listener, speaker].every(({ frames }) => frames.some((frame) => frame.includes('"join"'))))
    speaker.socket.send(JSON.stringify({ event: 'say', room: 'defaultRoom', message: text, messageId: 'say' }))
    speaker.socket.send('{"event":"action","params":{"action":"text"},"messageId":"text"}')
    await waitFor(() => listener.frames.some((frame) => frame.includes('"context":"user"')) && speaker.frames.some((frame) => frame.includes('"text"')))
    return {
      reply: speaker.frames.find((frame) => frame.includes('"messageId":"text"')) ?? '',
      chat: (listener.frames.find((frame) => frame.includes('"context":"user"')) ?? '').replace(/"(from|sentAt|epoch)":[^,}]+/g, '"$1":0')
    }
  }
  const direct = await frameOf(false)
  assert.ok(direct.reply.includes('line\\u2028paragraph\\u2029end'), direct.reply)
  assert.ok(!/[\u2028\u2029]/.test(direct.reply + direct.chat), 'no raw separator goes on the wire')
  assert.equal(JSON.parse(direct.reply).text, text, 'and the client reads the text it was sent')
  const throughPrimus = await frameOf(true)
  assert.deepEqual(direct, throughPrimus, 'the same bytes as Primus writes')
})

test('primus-emitter, a Primus plugin that listens to spark data, gets its events; the plugin answers as before', { timeout: 30_000 }, async (t) => {
  const received: unknown[] = []
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      const { primus } = app.actionheroWs
      primus.plugin('emitter', require('primus-emitter'))
      primus.on('connection', (spark: Spark) => {
        (spark as unknown as { on: (event: string, fn: (data: unknown) => void) => void }).on('news', (data) => received.push(data))
      })
    }
  })
  const client = await TestClient.connect(t, url)
  await onlySpark(app)
  client.socket.write({ type: 0, data: ['news', { headline: 'hello' }] })
  await waitFor(() => received.length === 1)
  assert.deepEqual(received, [{ headline: 'hello' }])
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  // Its `spark.send` writes through Primus, and the client gets it.
  const spark = await onlySpark(app) as unknown as { send: (event: string, data: unknown) => void }
  spark.send('update', { version: 2 })
  assert.deepEqual((await client.next((message) => message.type === 0)).data, ['update', { version: 2 }])
})

test('primus-emit, a Primus plugin of message transformers, added after a client connected, works for that client', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  const spark = await onlySpark(app) as unknown as { on: (event: string, fn: (data: unknown) => void) => void }
  const received: unknown[] = []
  spark.on('news', (data) => received.push(data))
  app.actionheroWs.primus.plugin('emit', require('primus-emit'))
  client.socket.write({ emit: ['news', { headline: 'hello' }] })
  // A marker sent after it: once it is answered, the emit before it has been handled.
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  assert.deepEqual(received, [{ headline: 'hello' }])
  assert.equal(client.messages.some((message) => message.error !== undefined), false, 'the plugin took its message: no error reply for it')
})

/** A raw client that answers each ping as Primus's client does while `answering` says so; counts them. */
async function pingedClient (t: TestContext, url: string): Promise<{ socket: WebSocket, pings: () => number, answer: (on: boolean) => void }> {
  const { socket } = await rawClient(t, url)
  let pings = 0
  let answering = true
  socket.on('message', (data) => {
    const ping = /^"primus::ping::(\d+)"$/.exec(String(data))
    if (ping === null) return
    pings++
    if (answering) socket.send(JSON.stringify(`primus::pong::${ping[1]}`))
  })
  return { socket, pings: () => pings, answer: (on) => { answering = on } }
}

test('on the direct path, pings go out as Primus writes them, pongs keep the spark alive without Primus decoding them, and silence ends it', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { server: { pingInterval: 100 } })
  const decodes = countDecodes(app)
  const client = await pingedClient(t, url)
  const spark = await onlySpark(app) as unknown as Spark & { on: (event: 'heartbeat', fn: () => void) => void }
  let heartbeats = 0
  spark.on('heartbeat', () => { heartbeats++ })

  // Five rounds answered: alive all along (a missed pong ends a spark at the next round).
  await waitFor(() => client.pings() >= 5 && heartbeats >= 4)
  assert.equal(app.actionheroWs.connections.size, 1)
  assert.equal(decodes(), 0, 'the pongs took the direct path')

  client.answer(false)
  const closed = new Promise((resolve) => client.socket.once('close', resolve))
  const silentFrom = Date.now()
  await waitFor(() => app.actionheroWs.connections.size === 0, 3000)
  await closed
  // Ended at the second round without a pong: within two intervals and a margin for a busy machine.
  assert.ok(Date.now() - silentFrom < 1500, `ended ${Date.now() - silentFrom} ms after the client fell silent`)
})

test('a spark with outgoing::ping or incoming::pong listeners gets its heartbeat through Primus, and they see it', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { server: { pingInterval: 100 } })
  const client = await pingedClient(t, url)
  const spark = await onlySpark(app) as unknown as { on: (event: string, fn: (value: unknown) => void) => void }
  const pings: unknown[] = []
  const pongs: unknown[] = []
  spark.on('outgoing::ping', (time) => pings.push(time))
  spark.on('incoming::pong', (time) => pongs.push(time))
  const before = client.pings()
  await waitFor(() => pings.length >= 3 && pongs.length >= 3)
  assert.ok(client.pings() - before >= 3, 'the client still gets every ping')
  assert.equal(typeof pings[0], 'number')
  assert.ok(pongs.includes(pings[0]), 'the pong carries the time of its ping')
  assert.equal(app.actionheroWs.connections.size, 1)
})

const fixture = fileURLToPath(new URL('fixtures/transport-fallback.ts', import.meta.url))

/** Runs the fallback fixture with `broken` made unresolvable (or another major), and returns what it printed. */
async function runFallback (broken: 'primus-ws' | 'ws' | 'client'): Promise<{ logs: Array<{ msg: string }>, sum: number, direct: boolean, decodes: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, broken], { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.on('data', (data) => { output += String(data) })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  assert.equal(code, 0, output)
  return JSON.parse(output.trim().split('\n').at(-1) ?? '{}')
}

test('an app whose ws is nested under Primus (another copy) keeps the direct path: the plugin uses its own', { timeout: 60_000 }, async () => {
  const { logs, sum, direct, decodes } = await runFallback('primus-ws')
  assert.deepEqual(logs.filter(({ msg }) => msg.includes('direct socket path')), [])
  assert.equal(sum, 5)
  assert.equal(direct, true)
  assert.equal(decodes, 0, 'no frame went through Primus\'s decoder')
})

test('when the plugin\'s ws is another major, the boot says once that the direct path is off and why, and messages flow through Primus', { timeout: 60_000 }, async () => {
  const { logs, sum, direct } = await runFallback('ws')
  const off = logs.filter(({ msg }) => msg.includes('the direct socket path is off'))
  assert.equal(off.length, 1, JSON.stringify(logs))
  assert.match(off[0]?.msg ?? '', /the plugin's ws is not version 8 \(found 7\)/)
  assert.equal(sum, 5)
  assert.equal(direct, false, 'Primus\'s own transformer carries it')
})

test('when Primus\'s websockets client is not where Primus keeps it, the boot says so once, and messages flow through Primus', { timeout: 60_000 }, async () => {
  const { logs, sum } = await runFallback('client')
  const off = logs.filter(({ msg }) => msg.includes('the direct socket path is off'))
  assert.equal(off.length, 1, JSON.stringify(logs))
  assert.match(off[0]?.msg ?? '', /websockets client \(primus\/transformers\/websockets\/client\) was not found/)
  assert.equal(sum, 5)
})
