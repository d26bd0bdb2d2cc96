import assert from 'node:assert/strict'
import { createConnection, type Socket } from 'node:net'
import { test, type TestContext } from 'node:test'
import WebSocket from 'ws'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

test('a frame over server.maxLength closes that connection with 1009; the server and other clients carry on', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { server: { maxLength: 64 * 1024 } })
  const bystander = await TestClient.connect(t, url)
  const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => socket.terminate())
  await new Promise((resolve) => socket.once('open', resolve))
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))
  socket.send(JSON.stringify({ event: 'say', room: 'defaultRoom', message: 'x'.repeat(70 * 1024) }))
  assert.equal(await closed, 1009)
  await waitFor(() => app.actionheroWs.connections.size === 1)
  assert.equal((await bystander.request({ event: 'detailsView' })).status, 'OK')
  const fits = await bystander.request({ event: 'noSuchVerb', padding: 'x'.repeat(60 * 1024) })
  assert.equal(fits.error, 'verb not found or not allowed', 'a frame under the limit is handled')
})

test('a connection that does not read is disconnected once maxBufferedBytes wait for it', { timeout: 30_000 }, async (t) => {
  const maxBufferedBytes = 256 * 1024
  const { app, url, port } = await startApp(t, { maxBufferedBytes })
  const reader = await TestClient.connect(t, url)
  const { data: readerDetails } = await reader.request({ event: 'detailsView' }) as { data: { id: string } }

  // A client that completes the handshake and then never reads from its socket.
  const stalled = createConnection({ port, host: '127.0.0.1' })
  t.after(() => stalled.destroy())
  stalled.write(`GET /primus?_primuscb=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise((resolve) => stalled.once('data', resolve))
  stalled.pause()
  await waitFor(() => app.actionheroWs.connections.size === 2)
  const stalledConnection = [...app.actionheroWs.connections.values()].find((connection) => connection.id !== readerDetails.id)
  assert.ok(stalledConnection)

  const chunk = { context: 'alert', payload: 'y'.repeat(64 * 1024) }
  let sent = 0
  while (stalledConnection.open && sent < 2000) {
    stalledConnection.send(chunk)
    sent++
    if (sent % 50 === 0) await sleep(1)
  }
  assert.equal(stalledConnection.open, false, 'the stalled reader was disconnected')
  assert.ok(sent < 2000, `disconnected after ${sent} messages of 64 KiB`)
  await waitFor(() => app.actionheroWs.connections.size === 1)
  assert.equal((await reader.request({ event: 'detailsView' })).status, 'OK', 'a client that reads is unaffected')
})

test('an abrupt disconnect during an action does not disturb the server', { timeout: 30_000 }, async (t) => {
  let finished = false
  const { app, url } = await startApp(t, {
    actions: [{ name: 'slow', run: async () => { await sleep(100); finished = true; return { late: true } } }]
  })
  const client = await TestClient.connect(t, url)
  client.socket.write({ event: 'action', params: { action: 'slow' }, messageId: 1 })
  await waitFor(() => [...app.actionheroWs.connections.values()].some((connection) => connection.pendingActions === 1))
  const [connection] = app.actionheroWs.connections.values()
  connection?.rawSocket?.destroy()
  await waitFor(() => finished)
  await waitFor(() => app.actionheroWs.connections.size === 0)
  const next = await TestClient.connect(t, url)
  assert.equal((await next.action('slow')).late, true)
})

test('a handshake that is not a WebSocket, or goes elsewhere, does not become a connection', { timeout: 30_000 }, async (t) => {
  const { app, url, port } = await startApp(t)
  const response = await fetch(`${url}/primus`)
  assert.equal(response.status, 426, 'plain HTTP on the Primus path: Upgrade Required')
  const raw = createConnection({ port, host: '127.0.0.1' })
  t.after(() => raw.destroy())
  raw.write('GET /primus HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  const reply = await new Promise<string>((resolve) => raw.once('data', (data) => resolve(String(data))))
  assert.match(reply, /^HTTP\/1\.1 400/)
  // A marker: a handshake made after those is a connection, and the only one.
  await TestClient.connect(t, url)
  assert.equal(app.actionheroWs.connections.size, 1)
})

test('maxPendingRequests bounds every event of a connection, in the shape of its reply', { timeout: 30_000 }, async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, url } = await startApp(t, { maxPendingRequests: 3 }, {
    setup: (app) => { app.actionheroWs.rooms.use({ name: 'gate', onSayReceive: async () => { await gate } }) }
  })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  const says = [1, 2, 3].map((n) => client.request({ event: 'say', room: 'defaultRoom', message: n }))
  await waitFor(() => [...app.actionheroWs.connections.values()].some((connection) => connection.pendingRequests === 3))
  const refusedSay = await client.request({ event: 'say', room: 'defaultRoom', message: 4 })
  assert.deepEqual({ status: refusedSay.status, error: refusedSay.error }, { status: 'you have too many pending requests', error: 'you have too many pending requests' })
  const refusedFile = await client.request({ event: 'file', file: 'x.txt' })
  assert.deepEqual({ error: refusedFile.error, content: refusedFile.content }, { error: 'you have too many pending requests', content: null })
  assert.equal((await client.request({ event: 'roomView', room: 'defaultRoom' })).error, 'you have too many pending requests')
  assert.equal((await client.action('anything')).error, 'you have too many pending requests')
  release()
  assert.deepEqual((await Promise.all(says)).map((reply) => reply.status), ['OK', 'OK', 'OK'])
  assert.equal((await client.request({ event: 'roomView', room: 'defaultRoom' })).status, 'OK', 'answered again once the requests are done')
  const closed = client.closed()
  for (const n of [1, 2, 3]) client.socket.write({ event: 'say', room: 'defaultRoom', message: n })
  client.socket.write({ event: 'quit' })
  await closed
})

/** A handshake on a raw TCP socket that then never reads what the server sends. */
async function deafSocket (t: TestContext, port: number): Promise<Socket> {
  const socket = createConnection({ port, host: '127.0.0.1' })
  t.after(() => socket.destroy())
  socket.write(`GET /primus?_primuscb=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise((resolve) => socket.once('data', resolve))
  socket.pause()
  return socket
}

/** A client's text frame: masked, as a client must send it (with a zero mask, so the payload reads as is). */
function clientFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  if (payload.length > 125) throw new Error('a short frame only')
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload])
}

test('what Primus answers itself counts against maxBufferedBytes: a deaf client asking "primus::id::" is disconnected', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t, { maxBufferedBytes: 64 * 1024 })
  const socket = await deafSocket(t, port)
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [connection] = app.actionheroWs.connections.values()
  const batch = Buffer.concat(Array.from({ length: 10_000 }, () => clientFrame('"primus::id::"')))
  let sent = 0
  // Each answer is bigger than its question; the kernel's buffers (a few MB) fill first.
  while (connection?.open === true && sent < 2_000_000) {
    if (!socket.write(batch)) await new Promise((resolve) => socket.once('drain', resolve))
    sent += 10_000
    await sleep(1)
  }
  assert.equal(connection?.open, false, `still open after ${sent} questions`)
  await waitFor(() => app.actionheroWs.connections.size === 0)
})

test('broadcasts count against maxBufferedBytes: a deaf member of a room is disconnected, the others carry on', { timeout: 60_000 }, async (t) => {
  const { app, url, port } = await startApp(t, { maxBufferedBytes: 256 * 1024 })
  const listener = await TestClient.connect(t, url)
  assert.equal((await listener.request({ event: 'roomAdd', room: 'defaultRoom' })).data, true)
  const socket = await deafSocket(t, port)
  socket.write(clientFrame('{"event":"roomAdd","room":"defaultRoom"}'))
  await waitFor(async () => (await app.actionheroWs.rooms.view('defaultRoom')).membersCount === 2)
  const payload = 'z'.repeat(64 * 1024)
  let sent = 0
  while (app.actionheroWs.connections.size === 2 && sent < 2000) {
    await app.actionheroWs.rooms.broadcast('defaultRoom', payload)
    sent++
    if (sent % 20 === 0) await sleep(1)
  }
  await waitFor(() => app.actionheroWs.connections.size === 1)
  assert.ok(sent < 2000, `disconnected after ${sent} broadcasts of 64 KiB`)
  await waitFor(async () => (await app.actionheroWs.rooms.view('defaultRoom')).membersCount === 1)
  assert.equal((await listener.request({ event: 'roomView', room: 'defaultRoom' })).status, 'OK', 'a member that reads is unaffected')
})
