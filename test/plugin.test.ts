import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import Fastify from 'fastify'
import WebSocket from 'ws'
import actionheroWs, { actionheroWs as named } from '../lib/index.js'
import { startApp, TestClient } from './helpers.js'

test('the plugin is exported as default, by name, and registered under its name', async (t) => {
  assert.equal(actionheroWs, named)
  const app = Fastify()
  await app.register(actionheroWs, { clientJsName: null })
  t.after(() => app.close())
  await app.ready()
  assert.ok(app.hasPlugin('fastify-actionhero-ws'))
  assert.ok(app.hasDecorator('actionheroWs'))
  assert.ok(app.hasRequestDecorator('fingerprint'))
})

test('Fastify routes, hooks, 404s and inject keep working beside the socket, whose requests are Fastify requests too', async (t) => {
  const hooked: string[] = []
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.addHook('onRequest', async (request) => { hooked.push(request.url) })
      app.get('/hello', async () => ({ hello: 'world' }))
      app.post('/echo', async (request) => request.body)
    }
  })
  assert.deepEqual(await (await fetch(`${url}/hello`)).json(), { hello: 'world' })
  const echoed = await fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  assert.deepEqual(await echoed.json(), { a: 1 })
  assert.equal((await fetch(`${url}/missing`)).status, 404)
  assert.deepEqual((await app.inject('/hello')).json(), { hello: 'world' })
  assert.deepEqual(hooked, ['/hello', '/echo', '/missing', '/hello'])

  // Primus's library and the socket's handshake go through Fastify: its hooks see them.
  const library = await fetch(`${url}/primus/primus.js`)
  assert.equal(library.status, 200)
  assert.match(library.headers.get('content-type') ?? '', /^text\/javascript/)
  assert.match(await library.text(), /Primus/)
  assert.equal((await app.inject('/primus/primus.js')).statusCode, 200, 'inject reaches it too')
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  assert.ok(hooked.includes('/primus/primus.js'))
  assert.ok(hooked.some((path) => /^\/primus\?/.test(path)), `the handshake was hooked: ${hooked.join(', ')}`)
})

test('upgrades on other paths are not the plugin\'s: with nobody else to take them, they are closed', async (t) => {
  const { url } = await startApp(t)
  const outcome = await new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/elsewhere`)
    socket.once('open', () => resolve('open'))
    socket.once('error', (error) => resolve(error.message))
  })
  assert.match(String(outcome), /socket hang up|ECONNRESET/)
})

test('server.pathname moves the socket endpoint', async (t) => {
  const { url } = await startApp(t, { server: { pathname: '/realtime' } })
  const Socket = (await import('../lib/primus.js')).createPrimusSocket({ transformer: 'websockets', parser: 'JSON', pathname: '/realtime' })
  const socket = new Socket(url, { strategy: false })
  t.after(() => socket.end())
  const welcome = await new Promise((resolve) => socket.once('data', resolve))
  assert.equal((welcome as { context: string }).context, 'api')
  assert.equal((await fetch(`${url}/primus/primus.js`)).status, 404, 'the default path is free for the app')
})

test('enabled: false registers nothing but the decorators', async (t) => {
  const app = Fastify()
  await app.register(actionheroWs, { enabled: false, actions: [{ name: 'add', run: () => ({}) }] })
  app.get('/me', async (request) => ({ fingerprint: request.fingerprint }))
  t.after(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const me = await app.inject('/me')
  assert.deepEqual(me.json(), { fingerprint: null })
  assert.equal(me.headers['set-cookie'], undefined)
  assert.equal((await app.inject('/api/add')).statusCode, 404)
  assert.equal((await app.inject('/primus/primus.js')).statusCode, 404)
  // No socket either: a handshake on the default path finds nobody to take it.
  const handshake = await new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
    socket.once('open', () => resolve('open'))
    socket.once('error', (error) => resolve(error.message))
  })
  assert.match(String(handshake), /socket hang up|ECONNRESET|Unexpected server response/)
  assert.equal(app.actionheroWs.connections.size, 0)
  app.actionheroWs.addAction({ name: 'later', run: () => ({}) })
  assert.throws(() => app.actionheroWs.primus, { code: 'FST_AHWS_INVALID_OPTION' })
})

test('the built package loads with import and with require()', async (t) => {
  const entry = new URL('../dist/lib/index.js', import.meta.url)
  if (!existsSync(entry)) {
    if (process.env.CI) assert.fail('dist/ is missing: npm test builds it first')
    t.skip('dist/ is missing: run `npm run build` first')
    return
  }
  const imported = await import(entry.href) as typeof import('../lib/index.js')
  assert.equal(typeof imported.default, 'function')
  const required = createRequire(import.meta.url)('../dist/lib/index.js') as typeof import('../lib/index.js')
  assert.equal(typeof required.default, 'function', 'require(esm) works on Node >= 20.19')
  assert.equal((required.default as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')], 'fastify-actionhero-ws')
  const app = Fastify()
  await app.register(required.default, { clientJsName: null })
  await app.ready()
  await app.close()
})
