/**
 * Traces: the plugin's tracing channels, turned into spans by the real OpenTelemetry SDK (an in-memory
 * exporter) through the bridge of docs/OPERATING.md (test/fixtures/otel-bridge.ts).
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { defineAction, TRACING_CHANNELS } from '../lib/index.js'
import { bridgeTracingChannels } from './fixtures/otel-bridge.js'
import { startApp, TestClient, waitFor } from './helpers.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  run: async ({ a, b }) => ({ sum: a + b })
})
const fails = defineAction({ name: 'fails', run: () => { throw new Error('it broke') } })

/** A tracer provider with an in-memory exporter and an async-hooks context manager, bridged to the channels. */
function tracing (t: TestContext): { exporter: InMemorySpanExporter, tracer: ReturnType<BasicTracerProvider['getTracer']> } {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  const tracer = provider.getTracer('test')
  const unbridge = bridgeTracingChannels(tracer)
  t.after(async () => {
    unbridge()
    context.disable()
    await provider.shutdown()
  })
  return { exporter, tracer }
}

function spansNamed (exporter: InMemorySpanExporter, name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name)
}

test('an action over the socket gives one span with its name and outcome, ok or error, a root one', { timeout: 30_000 }, async (t) => {
  const { exporter } = tracing(t)
  const { url } = await startApp(t, { actions: [add, fails] })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('add', { a: 1, b: 2 })).sum, 3)
  assert.equal((await client.action('fails')).error, 'it broke')
  assert.equal((await client.action('add', { a: 1 })).error, 'b is a required parameter for this action')
  await client.action('nobody has this name')

  const [ok, refused] = spansNamed(exporter, 'action add')
  assert.equal(spansNamed(exporter, 'action add').length, 2, 'one span per call')
  assert.deepEqual(ok?.attributes, { 'actionhero_ws.action': 'add', 'actionhero_ws.transport': 'socket', 'actionhero_ws.outcome': 'ok' })
  assert.equal(ok?.status.code, 0, 'unset: no error')
  // No context is active when a frame arrives: each socket action starts a trace of its own.
  assert.equal(ok?.parentSpanContext, undefined)
  assert.equal(refused?.attributes['actionhero_ws.outcome'], 'refused')

  const [failed] = spansNamed(exporter, 'action fails')
  assert.equal(failed?.attributes['actionhero_ws.outcome'], 'error')
  assert.deepEqual(failed?.status, { code: 2, message: 'it broke' })
  // A name no action has is one fixed name: a client cannot invent span names.
  assert.equal(spansNamed(exporter, 'action (unknown)').length, 1)
  assert.equal(spansNamed(exporter, 'action nobody has this name').length, 0)
})

test('an action over HTTP is a child of the context active for its request (the app\'s request span)', { timeout: 30_000 }, async (t) => {
  const { exporter, tracer } = tracing(t)
  // What OpenTelemetry's HTTP instrumentation does: each request handled inside its span's context,
  // with the request's and response's events bound to it.
  const serverFactory = (handler: (request: IncomingMessage, response: ServerResponse) => void) => createServer((request, response) => {
    const span = tracer.startSpan('HTTP request', {}, ROOT_CONTEXT)
    response.on('finish', () => span.end())
    const active = trace.setSpan(ROOT_CONTEXT, span)
    context.bind(active, request)
    context.bind(active, response)
    context.with(active, () => handler(request, response))
  })
  const { url } = await startApp(t, { actions: [add] }, { fastify: { serverFactory } })
  const response = await fetch(`${url}/api/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":2,"b":5}' })
  assert.deepEqual(await response.json(), { sum: 7 })
  await waitFor(() => spansNamed(exporter, 'HTTP request').length === 1)

  const [request] = spansNamed(exporter, 'HTTP request')
  const [action] = spansNamed(exporter, 'action add')
  assert.equal(action?.attributes['actionhero_ws.transport'], 'http')
  assert.equal(action?.attributes['actionhero_ws.outcome'], 'ok')
  assert.equal(action?.parentSpanContext?.spanId, request?.spanContext().spanId)
  assert.equal(action?.spanContext().traceId, request?.spanContext().traceId)
})

test('say, file and the handshake are spanned: accepted and refused by reason', { timeout: 30_000 }, async (t) => {
  const { exporter } = tracing(t)
  const publicDir = await mkdtemp(join(tmpdir(), 'ahws-tracing-'))
  t.after(() => rm(publicDir, { recursive: true, force: true }))
  await writeFile(join(publicDir, 'hello.txt'), 'hello')
  const { url } = await startApp(t, { publicDir, authorize: (request) => { if (request.query.deny !== undefined) throw new Error('go away') } })
  const client = await TestClient.connect(t, url)
  await client.request({ event: 'roomAdd', room: 'defaultRoom' })
  assert.equal((await client.request({ event: 'say', room: 'defaultRoom', message: 'hi' })).status, 'OK')
  assert.equal((await client.request({ event: 'say', room: 'anotherRoom', message: 'hi' })).error, 'connection not in this room')
  assert.equal((await client.request({ event: 'file', file: 'hello.txt' })).content, 'hello')
  assert.equal((await client.request({ event: 'file', file: 'missing.txt' })).error, 'That file is not found')
  const refused = await fetch(`${url}/primus/?deny=1`)
  assert.equal(refused.status, 401)

  const [say, notInRoom] = spansNamed(exporter, 'say')
  assert.deepEqual(say?.attributes, { 'actionhero_ws.room': 'defaultRoom', 'actionhero_ws.outcome': 'ok' })
  assert.deepEqual(notInRoom?.attributes, { 'actionhero_ws.room': 'anotherRoom', 'actionhero_ws.outcome': 'refused' })
  assert.equal(notInRoom?.status.message, 'connection not in this room')
  assert.deepEqual(spansNamed(exporter, 'file').map((span) => span.attributes['actionhero_ws.outcome']), ['ok', 'refused'])
  const handshakes = spansNamed(exporter, 'handshake')
  assert.deepEqual(handshakes.map((span) => span.attributes['actionhero_ws.outcome']), ['ok', 'refused'])
  assert.equal(handshakes[1]?.attributes['actionhero_ws.reason'], 'unauthorized')
  assert.equal(handshakes[1]?.status.message, 'go away')
})

test('once the subscriber leaves, the channels have no subscribers and nothing is spanned', { timeout: 30_000 }, async (t) => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  t.after(() => provider.shutdown())
  const unbridge = bridgeTracingChannels(provider.getTracer('test'))
  const { url } = await startApp(t, { actions: [add] })
  const client = await TestClient.connect(t, url)
  await client.action('add', { a: 1, b: 1 })
  unbridge()
  for (const name of Object.values(TRACING_CHANNELS)) {
    assert.equal((diagnosticsChannel.tracingChannel(name) as unknown as { hasSubscribers: boolean }).hasSubscribers, false, name)
  }
  assert.equal((await client.action('add', { a: 2, b: 2 })).sum, 4)
  assert.equal(spansNamed(exporter, 'action add').length, 1)
})
