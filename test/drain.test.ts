/**
 * The drain (lib/shutdown.ts): close() ends connections in batches, each told to reconnect, and a
 * node that drains refuses new handshakes (503) so that clients go to another node.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { handshake } from './fixtures/http-request.js'
import { startApp, TestClient, waitFor } from './helpers.js'

/** Primus clients that reconnect on a drop, as the package's client does; their attempts never come here (the app is gone). */
const reconnecting = { strategy: 'disconnect,online,timeout', reconnect: { min: 60_000, max: 60_000, retries: 1 } }

test('close() ends connections in batches of drain.batchSize every drain.intervalMs, each told to reconnect', { timeout: 60_000 }, async (t) => {
  const batchSize = 10
  const intervalMs = 300
  const count = 40
  const { app, url } = await startApp(t, { drain: { batchSize, intervalMs } })
  const clients = await Promise.all(Array.from({ length: count }, () => TestClient.connect(t, url, reconnecting)))
  await waitFor(() => app.actionheroWs.connections.size === count)
  const drops: number[] = []
  let toldToStop = 0
  for (const client of clients) {
    // A drop the client should recover from schedules a reconnect; `primus::server::close` ends it for good.
    client.socket.on('reconnect scheduled', () => drops.push(performance.now()))
    client.socket.on('end', () => { toldToStop++ })
  }
  const started = performance.now()
  await app.close()
  await waitFor(() => drops.length === count)
  assert.equal(toldToStop, 0, 'no client was told not to reconnect')
  // Four batches, each at least intervalMs after the one before (timers may run late, never early).
  const span = Math.max(...drops) - Math.min(...drops)
  assert.ok(span >= (count / batchSize - 1) * intervalMs * 0.9, `the drops span ${Math.round(span)} ms`)
  const firstBatch = drops.filter((at) => at < Math.min(...drops) + intervalMs * 0.9).length
  assert.ok(firstBatch <= batchSize, `${firstBatch} clients dropped with the first batch`)
  assert.ok(Math.max(...drops) - started < 5000 * 2, 'within the shutdown bound')
})

test('a node that drains refuses new handshakes with 503, and takes no new connection', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { drain: { batchSize: 1, intervalMs: 2000 } })
  const clients = await Promise.all(Array.from({ length: 2 }, () => TestClient.connect(t, url, reconnecting)))
  await waitFor(() => app.actionheroWs.connections.size === 2)
  const firstDropped = new Promise((resolve) => clients[0]?.socket.once('reconnect scheduled', resolve))
  const secondDropped = new Promise((resolve) => clients[1]?.socket.once('reconnect scheduled', resolve))
  const closing = app.close()
  await Promise.race([firstDropped, secondDropped])
  // Between the two batches: the node is draining.
  const refusal = await handshake(url)
  assert.notEqual(refusal, 'open')
  assert.equal(refusal === 'open' ? 0 : refusal.statusCode, 503)
  assert.equal(app.actionheroWs.connections.size, 1, 'only the connection of the second batch is left')
  await closing
  await Promise.all([firstDropped, secondDropped])
})

test('destroyClientsOnShutdown keeps its meaning with a drain: every client is told to stop, at once', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { destroyClientsOnShutdown: true, drain: { batchSize: 1, intervalMs: 5000 } })
  const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(t, url, reconnecting)))
  await waitFor(() => app.actionheroWs.connections.size === 5)
  let reconnects = 0
  for (const client of clients) client.socket.on('reconnect scheduled', () => { reconnects++ })
  const ended = clients.map((client) => client.closed())
  const started = performance.now()
  await app.close()
  await Promise.all(ended)
  assert.equal(reconnects, 0)
  assert.ok(performance.now() - started < 5000, 'not one batch every 5 s')
})

test('drain: false ends every connection at once, as before', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { drain: false })
  const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(t, url, reconnecting)))
  await waitFor(() => app.actionheroWs.connections.size === 5)
  const dropped = clients.map((client) => new Promise((resolve) => client.socket.once('reconnect scheduled', resolve)))
  await app.close()
  await Promise.all(dropped)
})

test('a drain slower than the shutdown bound ends what is left together at half of shutdownTimeout', { timeout: 30_000 }, async (t) => {
  const shutdownTimeout = 1000
  const { app, url } = await startApp(t, { shutdownTimeout, drain: { batchSize: 1, intervalMs: 10_000 } })
  const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(t, url, reconnecting)))
  await waitFor(() => app.actionheroWs.connections.size === 5)
  const drops: number[] = []
  for (const client of clients) client.socket.on('reconnect scheduled', () => drops.push(performance.now()))
  const started = performance.now()
  await app.close()
  const took = performance.now() - started
  await waitFor(() => drops.length === 5)
  drops.sort((a, b) => a - b)
  // One batch at once, then the four others together once half the bound has passed, not one every 10 s.
  assert.ok((drops[1] as number) - started >= shutdownTimeout / 2 - 50, `the second drop came ${Math.round((drops[1] as number) - started)} ms in`)
  assert.ok((drops[4] as number) - (drops[1] as number) < 200, 'the last four together')
  assert.ok(took < 2 * shutdownTimeout + 700, `close() took ${Math.round(took)} ms`)
})
