/**
 * `server.maxLength` on every transformer (issue 18): an HTTP body over the bound is refused before it
 * is read whole (413 from its Content-Length, 411 without one), and a message over `maxLength` is
 * refused whatever batch or frame it came in, and its connection closed.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import actionheroWs, { defineAction } from '../lib/index.js'
import { startApp, waitFor, type RunningApp } from './helpers.js'
import {
  clientFrame, openPollingSession, outcome, POLLING_TRANSFORMERS, rawRequest, sendUpgrade, TRANSFORMERS, webSocketPath, type TransformerName
} from './transformer-helpers.js'

const MAX_LENGTH = 16 * 1024

/** An app whose `record` action keeps the length of every text it is given. */
async function recordingApp (t: TestContext, transformer: TransformerName): Promise<RunningApp & { recorded: number[] }> {
  const recorded: number[] = []
  const record = defineAction({
    name: 'record',
    inputs: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const,
    run: ({ text }) => {
      recorded.push(text.length)
      return {}
    }
  })
  return { ...await startApp(t, { actions: [record], server: { transformer, maxLength: MAX_LENGTH } }), recorded }
}

function recordMessage (length: number, messageId = 1): string {
  return JSON.stringify({ event: 'action', params: { action: 'record', text: 'x'.repeat(length) }, messageId })
}

/** The path a body goes to on each transformer: a live session's where there is one. */
async function bodyPath (url: string, transformer: TransformerName): Promise<string> {
  if (transformer === 'websockets' || transformer === 'faye') return '/primus'
  const session = await openPollingSession(url, transformer)
  return session.sendRequest(['{}']).path
}

for (const transformer of TRANSFORMERS) {
  test(`${transformer}: a body whose Content-Length is over the bound is answered 413 before it is sent`, { timeout: 30_000 }, async (t) => {
    const { url, port } = await recordingApp(t, transformer)
    const path = await bodyPath(url, transformer)
    // 32 MiB announced, 1 KiB sent: only an answer that did not wait for the body comes back.
    const socket = rawRequest(t, port, { path, headers: { 'content-type': 'text/plain', 'content-length': String(32 * 1024 * 1024) }, body: 'x'.repeat(1024) })
    const answer = await outcome(socket, 5000)
    socket.destroy()
    assert.match(answer, /^HTTP\/1\.1 413 /)
  })

  test(`${transformer}: a body without a length (chunked) is answered 411`, { timeout: 30_000 }, async (t) => {
    const { url, port } = await recordingApp(t, transformer)
    const path = await bodyPath(url, transformer)
    const socket = rawRequest(t, port, { path, headers: { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, body: '400\r\n' + 'x'.repeat(1024) + '\r\n' })
    const answer = await outcome(socket, 5000)
    socket.destroy()
    assert.match(answer, /^HTTP\/1\.1 411 /)
  })
}

for (const transformer of POLLING_TRANSFORMERS) {
  test(`${transformer}: a message over maxLength in a long-polling body is refused and its connection closed, whatever its batch`, { timeout: 30_000 }, async (t) => {
    const { app, url, recorded } = await recordingApp(t, transformer)
    // A marker first: a message within the limit is handled.
    const marker = await openPollingSession(url, transformer)
    await waitFor(() => app.actionheroWs.connections.size === 1)
    await marker.send([recordMessage(100)])
    await waitFor(() => recorded.length === 1)

    const session = await openPollingSession(url, transformer)
    await waitFor(() => app.actionheroWs.connections.size === 2)
    await session.send([recordMessage(10, 2), recordMessage(MAX_LENGTH + 100, 3), recordMessage(20, 4)]).catch(() => 0)
    await waitFor(() => app.actionheroWs.connections.size === 1)
    assert.ok(!recorded.includes(MAX_LENGTH + 100), `the long message was handled: ${JSON.stringify(recorded)}`)
    assert.ok(!recorded.includes(20), 'nothing after it in its batch was handled')
  })
}

for (const transformer of ['websockets', 'faye', 'engine.io', 'sockjs'] as const) {
  test(`${transformer}: a WebSocket frame over maxLength closes its connection; the message is not handled`, { timeout: 30_000 }, async (t) => {
    const { app, port, recorded } = await recordingApp(t, transformer)
    const socket = sendUpgrade(t, port, webSocketPath(transformer))
    assert.match(await outcome(socket, 5000), / 101 /)
    await waitFor(() => app.actionheroWs.connections.size === 1)
    const message = recordMessage(MAX_LENGTH + 100)
    const framed = transformer === 'engine.io' ? `4${message}` : transformer === 'sockjs' ? JSON.stringify([message]) : message
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.write(clientFrame(framed))
    await waitFor(() => app.actionheroWs.connections.size === 0)
    socket.resume()
    await closed
    assert.deepEqual(recorded, [])
  })
}

test('server.transport options that would lift the message bound are refused at register', { timeout: 30_000 }, async () => {
  for (const key of ['maxPayload', 'maxHttpBufferSize', 'maxLength', 'faye_server_options']) {
    const app = Fastify({ logger: false })
    await assert.rejects(async () => {
      await app.register(actionheroWs, { clientJsName: null, server: { transport: { [key]: 1e9 } } })
      await app.ready()
    }, (error: Error & { code?: string }) => error.code === 'FST_AHWS_INVALID_OPTION' &&
      error.message.startsWith(`"server.transport.${key}" option would change the message bound of `) && error.message.endsWith('set server.maxLength instead'))
    await app.close()
  }
})
