/**
 * The client's reconnection (lib/client/backoff.ts and client.ts): every attempt, the first
 * included, waits a jittered, exponentially growing time, and a refused handshake (503 from a node
 * that drains, or any other answer than 101) does not end the retries.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, type Socket } from 'node:net'
import { test, type TestContext } from 'node:test'
import { reconnectDelay } from '../lib/client/backoff.js'
import { ActionheroClient, type ClientOptions, type ReconnectAttempt } from '../lib/client/node.js'
import { startApp, waitFor } from './helpers.js'

function clientOf (t: TestContext, url: string, options: ClientOptions = {}): ActionheroClient {
  const client = new ActionheroClient({ url, ...options })
  t.after(() => client.disconnect())
  return client
}

/** A server on `port` that answers every request and every WebSocket handshake 503, as a closing node; counts the handshakes. */
async function refuser (t: TestContext, port: number): Promise<{ server: Server, handshakes: () => number }> {
  let handshakes = 0
  const server = createServer((_request, response) => response.writeHead(503).end())
  server.on('upgrade', (_request, socket) => {
    handshakes++
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return { server, handshakes: () => handshakes }
}

test('reconnectDelay: between min and min × factor^attempt, at most max, and spread over that window', () => {
  const options = { min: 500, max: 30_000, factor: 2 }
  assert.equal(reconnectDelay(1, options, () => 0), 500)
  assert.equal(reconnectDelay(1, options, () => 1), 1000)
  assert.equal(reconnectDelay(3, options, () => 1), 4000)
  assert.equal(reconnectDelay(20, options, () => 1), 30_000, 'capped at max')
  assert.equal(reconnectDelay(20, { min: 50_000, max: 30_000 }, () => 1), 50_000, 'never under min')
  const firsts = Array.from({ length: 1000 }, () => reconnectDelay(1, options))
  assert.ok(firsts.every((delay) => delay >= 500 && delay <= 1000))
  assert.ok(Math.min(...firsts) < 550 && Math.max(...firsts) > 950, 'the first attempts cover their window')
  assert.ok(new Set(firsts).size > 300, 'and are not all the same')
  assert.deepEqual(
    [1, 2, 3, 5].map((attempt) => reconnectDelay(attempt, {}, () => 1)), [1500, 4500, 13_500, 30_000], 'defaults: min 500, factor 3, max 30 s')
})

test('the first reconnection attempts of many Node clients are spread, as the server that comes back sees them', { timeout: 60_000 }, async (t) => {
  const count = 30
  const reconnect = { min: 300, factor: 4, max: 10_000 }
  const first = await startApp(t, { drain: false })
  const clients = Array.from({ length: count }, () => clientOf(t, first.url, { reconnect }))
  await Promise.all(clients.map((client) => client.connect()))
  const firstDelays: number[] = []
  for (const client of clients) client.once('reconnecting', ({ delay }: ReconnectAttempt) => firstDelays.push(delay))
  const arrivals: number[] = []
  await first.app.close()
  await startApp(t, {}, {
    port: first.port,
    setup: (app) => { app.actionheroWs.addHook('onConnect', () => { arrivals.push(performance.now()) }) }
  })
  await waitFor(() => clients.every((client) => client.state === 'connected'), 20_000)
  assert.equal(firstDelays.length, count)
  assert.ok(firstDelays.every((delay) => delay >= 300 && delay <= 1200), `first delays ${firstDelays.join(', ')}`)
  assert.ok(Math.max(...firstDelays) - Math.min(...firstDelays) >= 450, `first delays ${firstDelays.join(', ')} are spread`)
  assert.equal(arrivals.length, count, 'one handshake each')
  assert.ok(Math.max(...arrivals) - Math.min(...arrivals) >= 400, 'the server saw them come back over time, not at once')
})

test('a Node client keeps trying through refused handshakes (503) until a server comes back, rooms and all', { timeout: 60_000 }, async (t) => {
  const first = await startApp(t, { drain: false })
  // More refusals than Primus's own 10 retries would have allowed.
  const client = clientOf(t, first.url, { reconnect: { min: 20, max: 40 } })
  await client.connect()
  await client.roomAdd('defaultRoom')
  const attempts: number[] = []
  client.on('reconnecting', ({ attempt }: ReconnectAttempt) => attempts.push(attempt))
  await first.app.close()
  const refusing = await refuser(t, first.port)
  const scheduledBefore = attempts.length
  await waitFor(() => refusing.handshakes() >= 15, 20_000)
  assert.equal(client.state, 'reconnecting')
  // Every handshake is one the client scheduled: Primus makes no attempt of its own beside them.
  assert.ok(refusing.handshakes() <= attempts.length - scheduledBefore + 1, `${refusing.handshakes()} handshakes, ${attempts.length - scheduledBefore} attempts scheduled`)
  await new Promise((resolve) => refusing.server.close(resolve))
  refusing.server.closeAllConnections()
  const reconnected = new Promise<void>((resolve) => client.once('reconnect', () => resolve()))
  const second = await startApp(t, {}, { port: first.port })
  await reconnected
  assert.deepEqual(client.rooms, ['defaultRoom'])
  assert.deepEqual(second.app.actionheroWs.connections.get(client.id ?? '')?.rooms, ['defaultRoom'])
})

test('reconnect.retries still bounds the attempts: then the client is disconnected', { timeout: 30_000 }, async (t) => {
  const first = await startApp(t, { drain: false })
  const client = clientOf(t, first.url, { reconnect: { min: 20, max: 40, retries: 3 } })
  await client.connect()
  const attempts: number[] = []
  client.on('reconnecting', ({ attempt }: ReconnectAttempt) => attempts.push(attempt))
  await first.app.close()
  await refuser(t, first.port)
  await waitFor(() => client.state === 'disconnected', 10_000)
  assert.deepEqual(attempts, [1, 2, 3])
})

test('a first connect() refused with 503 (a node that drains) is retried within timeout; another refusal still fails it', { timeout: 30_000 }, async (t) => {
  const first = await startApp(t)
  const port = first.port
  await first.app.close()
  const refusing = await refuser(t, port)
  const url = `http://127.0.0.1:${port}`
  const client = clientOf(t, url, { reconnect: { min: 20, max: 40 }, timeout: 20_000 })
  const connected = client.connect()
  await waitFor(() => refusing.handshakes() >= 3, 10_000)
  await new Promise((resolve) => refusing.server.close(resolve))
  refusing.server.closeAllConnections()
  await startApp(t, {}, { port })
  assert.equal((await connected).error, undefined)
  assert.equal(client.state, 'connected')

  const refused = await startApp(t, { authorize: () => { throw new Error('not you') } })
  await assert.rejects(clientOf(t, refused.url, { reconnect: { min: 20, max: 40 } }).connect(), /401/)
})

test('an attempt that gets no answer times out after options.timeout, and the next one follows', { timeout: 30_000 }, async (t) => {
  const first = await startApp(t, { drain: false })
  const client = clientOf(t, first.url, { reconnect: { min: 20, max: 40 }, timeout: 300 })
  await client.connect()
  const states = new Set<string>()
  client.on('reconnecting', () => states.add(client.state))
  client.on('timeout', () => states.add('timeout event'))
  await first.app.close()
  // Takes the connection and never answers the handshake.
  const held = new Set<Socket>()
  const silent = createTcpServer((socket) => { held.add(socket) })
  await new Promise<void>((resolve) => silent.listen(first.port, '127.0.0.1', resolve))
  t.after(() => { for (const socket of held) socket.destroy() })
  await waitFor(() => held.size >= 3, 10_000)
  assert.equal(client.state, 'reconnecting')
  assert.deepEqual([...states], ['reconnecting'], 'no timeout while reconnecting')
  await new Promise((resolve) => {
    silent.close(resolve)
    for (const socket of held) socket.destroy()
  })
  const reconnected = new Promise<void>((resolve) => client.once('reconnect', () => resolve()))
  await startApp(t, {}, { port: first.port })
  await reconnected
  assert.equal(client.state, 'connected')
})
