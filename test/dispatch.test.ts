import assert from 'node:assert/strict'
import { test } from 'node:test'
import WebSocket from 'ws'
import { startApp, TestClient, waitFor } from './helpers.js'

test('an unknown or missing event gets "verb not found or not allowed" with data null', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  for (const message of [{ event: 'teleport' }, {}, { event: 42 }, { event: 'constructor' }, { event: '__proto__' }]) {
    const reply = await client.request(message)
    assert.equal(reply.status, 'verb not found or not allowed')
    assert.equal(reply.error, 'verb not found or not allowed')
    assert.equal(reply.data, null)
    assert.equal(reply.context, 'response')
  }
})

test('frames that are not JSON objects get "message must be a JSON object" and the connection stays open', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  // A raw WebSocket, to send frames the Primus client would never encode.
  const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => socket.terminate())
  const replies: Array<Record<string, unknown>> = []
  socket.on('message', (data) => {
    const message = JSON.parse(String(data))
    if (typeof message === 'object') replies.push(message)
  })
  await new Promise((resolve) => socket.once('open', resolve))
  const frames = ['{not json', '"a string"', '42', '[1,2]', 'null', 'true', '']
  for (const frame of frames) socket.send(frame)
  socket.send(Buffer.from([0xff, 0x00, 0x13]))
  await waitFor(() => replies.length === frames.length + 2)
  const errors = replies.filter((reply) => reply.context === 'response')
  assert.equal(errors.length, frames.length + 1)
  for (const [index, reply] of errors.entries()) {
    assert.deepEqual(reply, { status: 'message must be a JSON object', context: 'response', messageCount: index + 1, error: 'message must be a JSON object' })
  }
  socket.send(JSON.stringify({ event: 'detailsView', messageId: 'after' }))
  await waitFor(() => replies.some((reply) => reply.messageId === 'after'))
  assert.equal(replies.at(-1)?.status, 'OK')
  assert.equal(app.actionheroWs.connections.size, 1)
})

test('documentation lists every action with its description and inputs', { timeout: 30_000 }, async (t) => {
  const inputs = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }
  const { url } = await startApp(t, {
    actions: [
      { name: 'square', description: 'squares a', inputs, run: ({ a }) => ({ square: (a as number) ** 2 }) },
      { name: 'noop', run: () => {} }
    ]
  })
  const client = await TestClient.connect(t, url)
  const reply = await client.request({ event: 'documentation' })
  assert.equal(reply.status, 'OK')
  assert.deepEqual(reply.data, {
    square: { name: 'square', description: 'squares a', inputs },
    noop: { name: 'noop', description: null, inputs: null }
  })
})

for (const verb of ['quit', 'exit']) {
  test(`${verb} ends the connection without a reply, and the client does not reconnect`, { timeout: 30_000 }, async (t) => {
    const { app, url } = await startApp(t)
    const client = await TestClient.connect(t, url, { strategy: 'disconnect,online,timeout', reconnect: { min: 20, max: 50, retries: 3 } })
    let reconnects = 0
    client.socket.on('reconnect scheduled', () => { reconnects++ })
    const ended = client.closed()
    client.socket.write({ event: verb, messageId: 'bye' })
    // Primus's client emits `end` only once it has given up the connection for good; a reply would have come before.
    await ended
    assert.equal(reconnects, 0)
    assert.equal(client.messages.some((message) => message.messageId === 'bye'), false)
    assert.equal(app.actionheroWs.connections.size, 0)
  })
}

test('a flood of messages is answered in full and in order', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const client = await TestClient.connect(t, url)
  const count = 5000
  const replies = await Promise.all(Array.from({ length: count }, () => client.request({ event: 'detailsView' })))
  assert.deepEqual(replies.map((reply) => reply.messageCount), Array.from({ length: count }, (_, n) => n + 1))
  const order = client.messages.filter((message) => message.context === 'response').map((message) => message.messageCount)
  assert.deepEqual(order, Array.from({ length: count }, (_, n) => n + 1))
})

test('with Primus message transformers, every message goes through them both ways', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, {
    actions: [{ name: 'echo', inputs: { type: 'object', properties: { stamped: { type: 'boolean' } } }, run: ({ stamped }) => ({ stamped }) }]
  }, {
    setup: (app) => {
      const { primus } = app.actionheroWs
      primus.transform('incoming', (packet: { data: { params?: Record<string, unknown> } }) => {
        if (packet.data.params !== undefined) packet.data.params.stamped = true
      })
      primus.transform('outgoing', (packet: { data: Record<string, unknown> }) => { packet.data.via = 'transformer' })
    }
  })
  const client = await TestClient.connect(t, url)
  assert.equal(client.messages[0]?.via, 'transformer', 'the welcome went through the outgoing transformer')
  const reply = await client.action('echo')
  assert.equal(reply.stamped, true, 'the request went through the incoming transformer')
  assert.equal(reply.via, 'transformer')
})

test('a handler that fails answers the internal error in its event\'s shape, and the failure is logged', { timeout: 30_000 }, async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, {}, {
    fastify: { logger: { level: 'error', stream } },
    setup: (app) => {
      // An app's outgoing transformer that breaks on one kind of message: the reply to documentation.
      app.actionheroWs.primus.transform('outgoing', (packet: { data: { data?: unknown } }) => {
        if (packet.data.data !== undefined && typeof packet.data.data === 'object' && packet.data.data !== null &&
          Object.keys(packet.data.data).length === 0) throw new Error('transformer broke')
      })
    }
  })
  const client = await TestClient.connect(t, url)
  const reply = await client.request({ event: 'documentation' })
  assert.deepEqual({ status: reply.status, error: reply.error }, { status: 'The server experienced an internal error', error: 'The server experienced an internal error' })
  const logged = lines.find((line) => line.msg === 'fastify-actionhero-ws: an event handler failed')
  assert.equal(logged?.event, 'documentation')
  assert.equal((logged?.err as { message?: string } | undefined)?.message, 'transformer broke')
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'the connection carries on')
})
