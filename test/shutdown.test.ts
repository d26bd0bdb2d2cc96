import assert from 'node:assert/strict'
import { get } from 'node:http'
import { createConnection, type Socket } from 'node:net'
import { test } from 'node:test'
import Fastify from 'fastify'
import WebSocket from 'ws'
import actionheroWs from '../lib/index.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

const reconnecting = { strategy: 'disconnect,online,timeout', reconnect: { min: 50, max: 200, retries: 40 } }

test('close() ends thousands of sockets, including ones that never answer the closing handshake', { timeout: 60_000 }, async (t) => {
  const { app, url, port } = await startApp(t, { shutdownTimeout: 1000 })
  const count = 2000
  const sockets: WebSocket[] = []
  for (let batch = 0; batch < count / 200; batch++) {
    await Promise.all(Array.from({ length: 200 }, () => new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
      socket.once('open', () => resolve())
      socket.once('error', reject)
      sockets.push(socket)
    })))
  }
  // Two clients that completed the handshake and then stopped reading and answering.
  const deaf: Socket[] = []
  for (let n = 0; n < 2; n++) {
    const socket = createConnection({ port, host: '127.0.0.1' })
    socket.write(`GET /primus HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    await new Promise((resolve) => socket.once('data', resolve))
    socket.pause()
    deaf.push(socket)
  }
  t.after(() => { for (const socket of deaf) socket.destroy() })
  await waitFor(() => app.actionheroWs.connections.size === count + 2)
  const closed = sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve)))
  await app.close()
  await Promise.all(closed)
  assert.equal(app.actionheroWs.connections.size, 0)
  assert.equal(app.server.listening, false)
})

test('during shutdown new actions get "the server is shutting down" and pending ones finish first', { timeout: 30_000 }, async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, url } = await startApp(t, {
    actions: [
      { name: 'slow', run: async () => { await gate; return { finished: true } } },
      { name: 'fast', run: () => ({ fast: true }) }
    ]
  })
  const client = await TestClient.connect(t, url)
  const slow = client.action('slow')
  await waitFor(() => [...app.actionheroWs.connections.values()].some((connection) => connection.pendingActions === 1))
  const closing = app.close()
  await waitFor(() => app.actionheroWs.lifecycle.closing)
  assert.equal((await client.action('fast')).error, 'the server is shutting down')
  release()
  assert.equal((await slow).finished, true, 'the pending action replied before the socket closed')
  await closing
})

test('pending actions are waited for only up to shutdownTimeout', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { shutdownTimeout: 200, actions: [{ name: 'forever', run: () => new Promise(() => {}) }] })
  const client = await TestClient.connect(t, url)
  client.socket.write({ event: 'action', params: { action: 'forever' } })
  await waitFor(() => [...app.actionheroWs.connections.values()].some((connection) => connection.pendingActions === 1))
  const ended = client.closed()
  await app.close()
  await ended
})

test('destroyClientsOnShutdown: clients are told to stop and do not reconnect', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { destroyClientsOnShutdown: true })
  const client = await TestClient.connect(t, url, reconnecting)
  let reconnects = 0
  client.socket.on('reconnect scheduled', () => { reconnects++ })
  const ended = client.closed()
  await app.close()
  // Primus's client emits `end` only once it has given up the connection for good.
  await ended
  assert.equal(reconnects, 0)
})

test('without destroyClientsOnShutdown, clients reconnect to the next server on the same port', { timeout: 30_000 }, async (t) => {
  const first = await startApp(t)
  const client = await TestClient.connect(t, first.url, reconnecting)
  const { data: before } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  let scheduled = 0
  client.socket.on('reconnect scheduled', () => { scheduled++ })
  const reconnected = new Promise((resolve) => client.socket.once('reconnected', resolve))
  await first.app.close()
  await waitFor(() => scheduled > 0)
  const second = await startApp(t, { welcomeMessage: 'welcome back' }, { port: first.port })
  await reconnected
  await client.next((message) => message.welcome === 'welcome back')
  const { data: after } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  assert.notEqual(after.id, before.id)
  assert.ok(second.app.actionheroWs.connections.has(after.id))
})

test('Primus leaves the HTTP server to Fastify: a request in flight during close() completes', { timeout: 30_000 }, async (t) => {
  let inRoute = (): void => {}
  const routeEntered = new Promise<void>((resolve) => { inRoute = resolve })
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.get('/slow', async () => {
        inRoute()
        await sleep(200)
        return { done: true }
      })
    }
  })
  // `agent: false` sends Connection: close, so no idle keep-alive socket outlives the response.
  const body = new Promise<string>((resolve, reject) => {
    get(`${url}/slow`, { agent: false }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => { text += String(chunk) })
      response.on('end', () => resolve(text))
    }).once('error', reject)
  })
  await routeEntered
  await app.close()
  assert.deepEqual(JSON.parse(await body), { done: true })
})

test('an app that never listened closes cleanly', { timeout: 30_000 }, async () => {
  const app = Fastify()
  await app.register(actionheroWs, { clientJsName: null })
  await app.ready()
  await app.close()
  assert.equal(app.actionheroWs.lifecycle.closing, true, 'the plugin\'s shutdown ran, and did not fail without a Primus server')
  assert.equal(app.server.listening, false)
})

test('close() keeps its bound, twice shutdownTimeout, whatever actions, clients and onDisconnect hooks do', { timeout: 30_000 }, async (t) => {
  const shutdownTimeout = 1000
  const { app, url, port } = await startApp(t, { shutdownTimeout, actions: [{ name: 'forever', run: () => new Promise(() => {}) }] }, {
    setup: (app) => { app.actionheroWs.addHook('onDisconnect', () => new Promise(() => {})) }
  })
  const client = await TestClient.connect(t, url)
  client.socket.write({ event: 'action', params: { action: 'forever' } })
  // A client that completed the handshake and then stopped reading and answering.
  const deaf = createConnection({ port, host: '127.0.0.1' })
  t.after(() => deaf.destroy())
  deaf.write(`GET /primus HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise((resolve) => deaf.once('data', resolve))
  deaf.pause()
  await waitFor(() => app.actionheroWs.connections.size === 2 &&
    [...app.actionheroWs.connections.values()].some((connection) => connection.pendingActions === 1))
  const started = performance.now()
  await app.close()
  const took = performance.now() - started
  // Each wait really happens (the action never ends, the deaf socket never closes, the hook never returns), and none overruns.
  assert.ok(took >= 2 * shutdownTimeout - 50, `took ${Math.round(took)} ms`)
  assert.ok(took < 2 * shutdownTimeout + 700, `took ${Math.round(took)} ms, over twice shutdownTimeout (${shutdownTimeout} ms) plus a margin`)
  assert.equal(app.server.listening, false)
})
