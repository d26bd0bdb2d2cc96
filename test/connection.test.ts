import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Connection } from '../lib/index.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

test('a connection is welcomed once, at once, without a messageCount', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  assert.deepEqual(client.messages[0], { context: 'api', welcome: 'Hello! Welcome to the actionhero api' })
  await client.request({ event: 'detailsView' })
  assert.equal(client.messages.filter((message) => 'welcome' in message).length, 1)
})

test('welcomeMessage sets the welcome, false turns it off', { timeout: 30_000 }, async (t) => {
  const custom = await startApp(t, { welcomeMessage: 'hi there' })
  const greeted = await TestClient.connect(t, custom.url)
  assert.deepEqual(greeted.messages[0], { context: 'api', welcome: 'hi there' })

  const silent = await startApp(t, { welcomeMessage: false })
  const client = await TestClient.connect(t, silent.url, { welcome: false })
  const reply = await client.request({ event: 'detailsView' })
  assert.equal(reply.messageCount, 1)
  assert.equal(client.messages.length, 1, 'the reply is the first message')
})

test('the Connection of docs/DESIGN.md is in fastify.actionheroWs.connections while open', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  const { data: details } = await client.request({ event: 'detailsView' }) as { data: { id: string, remotePort: number } }
  const connection = app.actionheroWs.connections.get(details.id)
  assert.ok(connection)
  assert.equal(connection.type, 'webSocket')
  assert.equal(connection.remoteIP, '127.0.0.1')
  assert.equal(connection.remotePort, details.remotePort)
  assert.equal(connection.fingerprint, null)
  assert.ok(connection.connectedAt <= Date.now() && connection.connectedAt > Date.now() - 60_000)
  assert.deepEqual(connection.rooms, [])
  assert.equal(connection.messageCount, 1)
  assert.equal(connection.totalActions, 0)
  assert.equal(connection.pendingActions, 0)
  client.end()
  await waitFor(() => app.actionheroWs.connections.size === 0)
})

test('detailsView describes the connection', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { actions: [{ name: 'noop', run: () => ({}) }] })
  const client = await TestClient.connect(t, url, { transport: { headers: { cookie: 'sessionID=abc123' } } })
  await client.action('noop')
  const reply = await client.request({ event: 'detailsView' })
  assert.equal(reply.status, 'OK')
  assert.equal(reply.messageCount, 2)
  const data = reply.data as Record<string, unknown>
  assert.deepEqual(Object.keys(data).sort(),
    ['connectedAt', 'fingerprint', 'id', 'params', 'pendingActions', 'remoteIP', 'remotePort', 'rooms', 'totalActions'])
  assert.equal(data.fingerprint, 'abc123')
  assert.equal(data.remoteIP, '127.0.0.1')
  assert.equal(data.totalActions, 1)
  assert.equal(data.pendingActions, 0)
  assert.deepEqual(data.params, {}, 'params are not sticky: detailsView starts from none')
})

test('every reply carries the messageCount taken when its request arrived (ActionHero PR #1115)', { timeout: 30_000 }, async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { url } = await startApp(t, {
    actions: [
      { name: 'slow', run: async () => { await gate; return { slow: true } } },
      { name: 'fast', run: () => ({ fast: true }) }
    ]
  })
  const client = await TestClient.connect(t, url)
  const slow = client.action('slow')
  const fast = await client.action('fast')
  release()
  const slowReply = await slow
  assert.equal(slowReply.messageCount, 1)
  assert.equal(fast.messageCount, 2)
  assert.equal(slowReply.slow, true)
})

test('messageId is echoed when it is a string of at most 128 characters or a finite number', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  const cases: Array<[unknown, unknown]> = [['abc', 'abc'], [7, 7], [0, 0], ['x'.repeat(128), 'x'.repeat(128)],
    ['x'.repeat(129), undefined], [{ id: 1 }, undefined], [null, undefined], [true, undefined]]
  for (const [index, [sent, echoed]] of cases.entries()) {
    client.socket.write({ event: 'detailsView', messageId: sent })
    const reply = await client.next((message) => message.messageCount === index + 1)
    assert.equal(reply.messageId, echoed, `messageId ${JSON.stringify(sent)}`)
    assert.equal('messageId' in reply, echoed !== undefined)
  }
})

test('connection.send pushes an object as is; the client cannot take it for a reply', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  const [connection] = app.actionheroWs.connections.values() as Iterable<Connection>
  assert.ok(connection)
  assert.equal(connection.send({ context: 'alert', message: 'look' }), true)
  assert.deepEqual(await client.next((message) => message.context === 'alert'), { context: 'alert', message: 'look' })
  assert.equal(connection.send({ hello: 'world' }), true)
  assert.deepEqual(await client.next((message) => message.hello === 'world'), { hello: 'world' })
  assert.throws(() => connection.send([1, 2] as never), { code: 'FST_AHWS_INVALID_MESSAGE' })
  assert.throws(() => connection.send('text' as never), { code: 'FST_AHWS_INVALID_MESSAGE' })
  assert.equal(await app.actionheroWs.send(connection.id, { via: 'server' }), true)
  await client.next((message) => message.via === 'server')
  assert.equal(await app.actionheroWs.send('no-such-id', { via: 'server' }), false)
  client.end()
  await waitFor(() => !connection.open)
  assert.equal(connection.send({ late: true }), false, 'a closed connection reports the message was not sent')
})

test('connection.destroy ends the connection and the client does not reconnect', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const client = await TestClient.connect(t, url, { strategy: 'disconnect,online,timeout', reconnect: { min: 20, max: 50, retries: 3 } })
  let reconnects = 0
  client.socket.on('reconnect scheduled', () => { reconnects++ })
  const ended = client.closed()
  const [connection] = app.actionheroWs.connections.values() as Iterable<Connection>
  connection?.destroy()
  // Primus's client emits `end` only once it has given up the connection for good.
  await ended
  assert.equal(reconnects, 0)
  assert.equal(app.actionheroWs.connections.size, 0)
})

test('onConnect and onDisconnect hooks see every connection, in order; a failing hook does not stop others', { timeout: 30_000 }, async (t) => {
  const events: string[] = []
  const { url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs
        .addHook('onConnect', async (connection) => { await sleep(5); events.push(`connect:${connection.id}`) })
        .addHook('onConnect', () => { throw new Error('hook failure') })
        .addHook('onConnect', (connection) => { events.push(`connect2:${connection.id}`) })
        .addHook('onDisconnect', (connection) => { events.push(`disconnect:${connection.id}`) })
    }
  })
  const client = await TestClient.connect(t, url)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  await waitFor(() => events.length === 2)
  client.end()
  await waitFor(() => events.length === 3)
  assert.deepEqual(events, [`connect:${data.id}`, `connect2:${data.id}`, `disconnect:${data.id}`])
})

test('onDisconnect waits for onConnect: a connection closed while onConnect runs sees it finish first, then onDisconnect once', { timeout: 30_000 }, async (t) => {
  const events: string[] = []
  const { url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs
        .addHook('onConnect', async () => { events.push('onConnect start'); await sleep(200); events.push('onConnect end') })
        .addHook('onDisconnect', () => { events.push('onDisconnect') })
    }
  })
  const client = await TestClient.connect(t, url)
  await waitFor(() => events.includes('onConnect start'))
  client.end()
  await waitFor(() => events.includes('onDisconnect'))
  // A marker after the disconnect: a second onDisconnect for this connection would come before it.
  const marker = await TestClient.connect(t, url)
  await waitFor(() => events.filter((event) => event === 'onConnect start').length === 2)
  marker.end()
  await waitFor(() => events.filter((event) => event === 'onDisconnect').length === 2)
  assert.deepEqual(events, ['onConnect start', 'onConnect end', 'onDisconnect', 'onConnect start', 'onConnect end', 'onDisconnect'])
})

test('a failing onConnect is logged and leaves the connection open; its onDisconnect still runs, once', { timeout: 30_000 }, async (t) => {
  const events: string[] = []
  const logged: string[] = []
  const { url } = await startApp(t, {}, {
    fastify: {
      logger: {
        level: 'error',
        stream: { write: (line: string) => { logged.push(String((JSON.parse(line) as { msg?: unknown }).msg)) } }
      }
    },
    setup: (app) => {
      app.actionheroWs
        .addHook('onConnect', async () => { await sleep(20); throw new Error('the database is away') })
        .addHook('onDisconnect', () => { events.push('onDisconnect') })
    }
  })
  const client = await TestClient.connect(t, url)
  await waitFor(() => logged.some((message) => message.includes('an onConnect hook failed')))
  const { status } = await client.request({ event: 'detailsView' })
  assert.equal(status, 'OK', 'the connection is still served')
  client.end()
  await waitFor(() => events.length === 1)
  assert.deepEqual(events, ['onDisconnect'])
})

test('close() waits for the onConnect hooks still running, then runs onDisconnect, within its bound', { timeout: 30_000 }, async (t) => {
  const events: string[] = []
  const { app, url } = await startApp(t, { shutdownTimeout: 2000 }, {
    setup: (app) => {
      app.actionheroWs
        .addHook('onConnect', async () => { events.push('onConnect start'); await sleep(300); events.push('onConnect end') })
        .addHook('onDisconnect', () => { events.push('onDisconnect') })
    }
  })
  await TestClient.connect(t, url)
  await waitFor(() => events.includes('onConnect start'))
  await app.close()
  assert.deepEqual(events, ['onConnect start', 'onConnect end', 'onDisconnect'])
})

test('addHook refuses unknown hooks and non-functions with a coded error', { timeout: 30_000 }, async (t) => {
  const { app } = await startApp(t)
  assert.throws(() => app.actionheroWs.addHook('onMessage' as never, () => {}), { code: 'FST_AHWS_INVALID_HOOK' })
  assert.throws(() => app.actionheroWs.addHook('onConnect', 'nope' as never), { code: 'FST_AHWS_INVALID_HOOK' })
})

test('remoteIP honours Fastify\'s trustProxy', { timeout: 30_000 }, async (t) => {
  const headers = { 'x-forwarded-for': '203.0.113.7' }
  const trusting = await startApp(t, {}, { fastify: { trustProxy: true } })
  const proxied = await TestClient.connect(t, trusting.url, { transport: { headers } })
  const { data: behindProxy } = await proxied.request({ event: 'detailsView' }) as { data: { remoteIP: string } }
  assert.equal(behindProxy.remoteIP, '203.0.113.7')

  const listed = await startApp(t, {}, { fastify: { trustProxy: '127.0.0.1' } })
  const viaListed = await TestClient.connect(t, listed.url, { transport: { headers } })
  const { data: trustedHop } = await viaListed.request({ event: 'detailsView' }) as { data: { remoteIP: string } }
  assert.equal(trustedHop.remoteIP, '203.0.113.7')

  const direct = await startApp(t)
  const spoofing = await TestClient.connect(t, direct.url, { transport: { headers } })
  const { data: spoofed } = await spoofing.request({ event: 'detailsView' }) as { data: { remoteIP: string } }
  assert.equal(spoofed.remoteIP, '127.0.0.1', 'without trustProxy the header is ignored')
})
