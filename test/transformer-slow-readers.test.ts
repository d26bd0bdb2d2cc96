/**
 * `maxBufferedBytes` on every transformer (issue 18): a client that never reads is disconnected once
 * that much waits for it, wherever its transformer queues it (ws's socket, engine.io's write buffer,
 * sockjs's session, faye's driver, browserchannel's outgoing arrays); a client that reads carries on.
 */
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { ActionheroClient } from '../lib/client/node.js'
import type { Connection } from '../lib/index.js'
import { sleep, startApp, waitFor } from './helpers.js'
import { deafWebSocket, openPollingSession, webSocketPath, type PollingSession, type TransformerName } from './transformer-helpers.js'

const MAX_BUFFERED_BYTES = 256 * 1024
const CHUNK = { context: 'alert', payload: 'y'.repeat(64 * 1024) }
/** Far more than the bound and the kernel's socket buffers together: a connection still open after these was never cut. */
const MOST = 1000

/** Ways a client of each transformer stops reading: its WebSocket is not read, or it never polls again. */
const DEAF_CLIENTS: Array<{ name: string, transformer: TransformerName, open: (t: TestContext, url: string, port: number) => Promise<unknown> }> = [
  { name: 'websockets', transformer: 'websockets', open: (t, _url, port) => deafWebSocket(t, port, webSocketPath('websockets')) },
  { name: 'faye', transformer: 'faye', open: (t, _url, port) => deafWebSocket(t, port, webSocketPath('faye')) },
  { name: 'engine.io over WebSocket', transformer: 'engine.io', open: (t, _url, port) => deafWebSocket(t, port, webSocketPath('engine.io')) },
  { name: 'engine.io long-polling', transformer: 'engine.io', open: (_t, url) => openPollingSession(url, 'engine.io') },
  { name: 'sockjs over WebSocket', transformer: 'sockjs', open: (t, _url, port) => deafWebSocket(t, port, webSocketPath('sockjs')) },
  { name: 'sockjs long-polling', transformer: 'sockjs', open: (_t, url) => openPollingSession(url, 'sockjs') },
  { name: 'browserchannel', transformer: 'browserchannel', open: (_t, url) => openPollingSession(url, 'browserchannel') }
]

/** The deaf clients that poll over HTTP: their fetch keeps its keep-alive socket to the app (not the plugin's). */
const POLLING_KINDS = new Set(['engine.io long-polling', 'sockjs long-polling', 'browserchannel'])

for (const { name, transformer, open } of DEAF_CLIENTS) {
  test(`${name}: a client that does not read is disconnected once maxBufferedBytes wait for it`, { timeout: 60_000 }, async (t) => {
    const { app, url, port } = await startApp(t, { maxBufferedBytes: MAX_BUFFERED_BYTES, server: { transformer } })
    const reader = new ActionheroClient({ url, Primus: app.actionheroWs.primus.Socket })
    t.after(() => reader.disconnect())
    const { data: readerDetails } = await reader.connect()
    const readersSockets = await openSockets(app)

    await open(t, url, port)
    await waitFor(() => app.actionheroWs.connections.size === 2)
    const stalled = [...app.actionheroWs.connections.values()].find((connection) => connection.id !== readerDetails?.id) as Connection
    let sent = 0
    let mostBuffered = 0
    while (stalled.open && sent < MOST) {
      stalled.send(CHUNK)
      sent++
      mostBuffered = Math.max(mostBuffered, stalled.bufferedBytes)
      if (sent % 20 === 0) await sleep(1)
    }
    assert.equal(stalled.open, false, `still open after ${sent} messages of 64 KiB`)
    assert.ok(mostBuffered <= MAX_BUFFERED_BYTES + 2 * 64 * 1024, `${mostBuffered} bytes were counted as queued`)
    await waitFor(() => app.actionheroWs.connections.size === 1)
    assert.equal((await reader.detailsView()).data?.id, readerDetails?.id, 'a client that reads is unaffected')
    // Cut means gone: its TCP socket, and what was queued on it, go now, not after a closing handshake it
    // never answers (30 s), which would hold the app's close() as long.
    if (!POLLING_KINDS.has(name)) await waitFor(async () => await openSockets(app) === readersSockets, 5000)
    const closing = Date.now()
    reader.disconnect()
    await app.close()
    assert.ok(Date.now() - closing < 5000, `close() took ${Date.now() - closing} ms after the cut`)
  })
}

/** How many TCP connections the app's server holds. */
function openSockets (app: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) => app.server.getConnections((error, count) => error === null ? resolve(count) : reject(error)))
}

/** How a client of each kind starts reading again after `open`, when it can; null: it only goes away. */
const RESUMERS: Record<string, ((url: string, opened: unknown) => Promise<void>) | null> = {
  websockets: async (_url, opened) => { (opened as Socket).resume() },
  faye: async (_url, opened) => { (opened as Socket).resume() },
  'engine.io over WebSocket': async (_url, opened) => { (opened as Socket).resume() },
  'sockjs over WebSocket': async (_url, opened) => { (opened as Socket).resume() },
  // Polls until nothing is queued; the last poll waits for more, and is answered when the app closes.
  'engine.io long-polling': async (_url, opened) => { (opened as PollingSession).poll().catch(() => {}) },
  'sockjs long-polling': async (_url, opened) => { (opened as PollingSession).poll().catch(() => {}) },
  browserchannel: null
}

for (const { name, transformer, open } of DEAF_CLIENTS) {
  test(`${name}: connection.drained(lowWater) waits for the client to read, or to go`, { timeout: 60_000 }, async (t) => {
    const { app, url, port } = await startApp(t, { maxBufferedBytes: 8 * 1024 * 1024, server: { transformer } })
    const opened = await open(t, url, port)
    await waitFor(() => app.actionheroWs.connections.size === 1)
    const [connection] = app.actionheroWs.connections.values() as Iterable<Connection>
    assert.ok(connection !== undefined)
    let settled = false
    await connection.drained(Number.MAX_SAFE_INTEGER).then(() => { settled = true })
    assert.equal(settled, true, 'at once when already below')

    // Queued past what the kernel takes, well below maxBufferedBytes.
    for (let sent = 0; connection.bufferedBytes < 1024 * 1024 && sent < 200; sent++) {
      connection.send(CHUNK)
      if (sent % 10 === 9) await sleep(1)
    }
    assert.ok(connection.bufferedBytes >= 1024 * 1024, `only ${connection.bufferedBytes} bytes queued`)
    const waits = [connection.drained(64 * 1024), connection.drained(64 * 1024), connection.drained(0)]
    const drained = Promise.all(waits).then(() => { settled = true })
    settled = false
    // A marker: what is already settled settles before a timer's turn.
    await sleep(20)
    assert.equal(settled, false, 'not while the client does not read')
    const resume = RESUMERS[name]
    if (resume === null || resume === undefined) {
      connection.destroy()
    } else {
      await resume(url, opened)
      assert.equal(connection.open, true)
    }
    await drained
    assert.ok(!connection.open || connection.bufferedBytes === 0, `${connection.bufferedBytes} bytes still queued`)
  })
}

test('a custom transformer: maxBufferedBytes counts its socket\'s bufferedAmount, and the boot says so', { timeout: 60_000 }, async (t) => {
  const logs: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { logs.push(String(chunk)); done() } })
  // Primus's own websockets transformer, given as a constructor: to the plugin, a transformer it does not know.
  const transformer = createRequire(import.meta.url)('primus/transformers/websockets') as unknown as string
  const { app, port } = await startApp(t, { maxBufferedBytes: MAX_BUFFERED_BYTES, server: { transformer } }, { fastify: { logger: { level: 'info', stream } } })
  assert.ok(logs.some((line) => line.includes('a custom transformer: maxBufferedBytes counts what its socket reports as bufferedAmount')), logs.join(''))
  await deafWebSocket(t, port, webSocketPath('websockets'))
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [stalled] = app.actionheroWs.connections.values() as Iterable<Connection>
  assert.ok(stalled !== undefined)
  let sent = 0
  while (stalled.open && sent < MOST) {
    stalled.send(CHUNK)
    sent++
    if (sent % 20 === 0) await sleep(1)
  }
  assert.equal(stalled.open, false, `still open after ${sent} messages of 64 KiB`)
})

test('websockets: connection.drained resolves for bytes the socket took without refusing them (no drain event follows those)', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t, { maxBufferedBytes: 8 * 1024 * 1024 })
  const socket = await deafWebSocket(t, port, webSocketPath('websockets'))
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [connection] = app.actionheroWs.connections.values() as Iterable<Connection>
  assert.ok(connection !== undefined)
  // Small messages until the kernel holds no more: the first one it does not take waits in the socket,
  // below the socket's high-water mark, so the write was not refused.
  const small = { context: 'alert', payload: 'z'.repeat(1000) }
  for (let sent = 0; connection.bufferedBytes === 0 && sent < 100_000; sent++) {
    connection.send(small)
    if (sent % 100 === 99) await sleep(1)
  }
  assert.ok(connection.bufferedBytes > 0 && connection.bufferedBytes < 16 * 1024, `${connection.bufferedBytes} bytes queued`)
  const drained = connection.drained(0)
  socket.resume()
  await drained
  assert.equal(connection.bufferedBytes, 0)
})
