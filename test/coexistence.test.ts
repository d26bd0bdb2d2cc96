/**
 * The plugin beside the official plugins an app is likely to have, registered before it, after it or
 * not at all; and real clashes, which fail register with a code and the option to change.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import fastifyCookie from '@fastify/cookie'
import fastifyStatic from '@fastify/static'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import actionheroWs, { type ActionheroWsOptions } from '../lib/index.js'
import { createPrimusSocket } from '../lib/primus.js'
import { TestClient } from './helpers.js'

type Order = 'before' | 'after' | 'none'

/** An app with `other` registered before the plugin, after it, or not at all; listening, closed when the test ends. */
async function appWith (
  t: TestContext, order: Order, other: (app: FastifyInstance) => Promise<void>, options: ActionheroWsOptions = {}, first?: (app: FastifyInstance) => void
): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify()
  t.after(() => app.close())
  first?.(app)
  if (order === 'before') await other(app)
  await app.register(actionheroWs, { clientJsName: null, ...options })
  if (order === 'after') await other(app)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

function echoOver (url: string, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('open', () => socket.send(message))
    socket.once('message', (data) => {
      socket.close()
      resolve(String(data))
    })
    socket.once('error', reject)
  })
}

for (const order of ['before', 'after'] as const) {
  test(`@fastify/websocket registered ${order} the plugin: its routes and the plugin's socket both work, each handshake routed once`, { timeout: 30_000 }, async (t) => {
    const handshakes: string[] = []
    const { url } = await appWith(t, order, async (app) => {
      await app.register(fastifyWebsocket)
      app.get('/ws', { websocket: true }, (socket) => {
        socket.on('message', (data) => socket.send(`echo ${String(data)}`))
      })
    }, {}, (app) => {
      app.addHook('onRequest', async (request) => { if (request.url.startsWith('/primus')) handshakes.push(request.url) })
    })
    assert.equal(await echoOver(`${url.replace('http', 'ws')}/ws`, 'hi'), 'echo hi')
    const client = await TestClient.connect(t, url)
    const details = await client.request({ event: 'detailsView' })
    assert.equal(details.status, 'OK')
    assert.equal(handshakes.length, 1, `one handshake, one routing: ${handshakes.join(', ')}`)
    assert.equal(await echoOver(`${url.replace('http', 'ws')}/ws`, 'again'), 'echo again', 'the route still works with a socket open')
    assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'and frames are not corrupted')
  })
}

for (const order of ['before', 'after', 'none'] as const) {
  test(`@fastify/cookie registered ${order === 'none' ? 'nowhere' : `${order} the plugin`}: cookies and the fingerprint both work`, async (t) => {
    const { app, url } = await appWith(t, order, async (app) => {
      await app.register(fastifyCookie, { secret: 'the app\'s own secret' })
      app.get('/remember', async (request, reply) => {
        reply.setCookie('theme', 'dark', { signed: true })
        return { theme: request.cookies.theme ?? null }
      })
    })
    const first = await app.inject('/me-or-404')
    const fingerprint = /sessionID=([0-9a-f]{32})/.exec(String(first.headers['set-cookie']))?.[1]
    assert.ok(fingerprint !== undefined, 'the fingerprint cookie is set')
    if (order !== 'none') {
      const remembered = await app.inject({ url: '/remember', cookies: { sessionID: fingerprint } })
      assert.deepEqual(remembered.json(), { theme: null })
      const setCookies = ([] as string[]).concat(remembered.headers['set-cookie'] ?? [])
      assert.equal(setCookies.length, 1, 'the visitor has a fingerprint already: only the app\'s cookie is set')
      assert.match(setCookies[0] ?? '', /^theme=dark\.[^;]+;/, 'signed with the app\'s secret')
    }
    const client = await TestClient.connect(t, url, { transport: { headers: { cookie: `sessionID=${fingerprint}` } } })
    const { data } = await client.request({ event: 'detailsView' }) as { data: { fingerprint: string } }
    assert.equal(data.fingerprint, fingerprint)
  })
}

for (const order of ['before', 'after'] as const) {
  test(`@fastify/static registered ${order} the plugin, with its reply decorator: both serve their folders`, async (t) => {
    const assets = await mkdtemp(join(tmpdir(), 'ahws-coexistence-'))
    t.after(() => rm(assets, { recursive: true, force: true }))
    await writeFile(join(assets, 'logo.svg'), '<svg/>')
    const { app } = await appWith(t, order, async (app) => {
      await app.register(fastifyStatic, { root: assets, prefix: '/assets/' })
      app.get('/logo', (_request, reply) => reply.sendFile('logo.svg'))
    }, { clientJsName: 'actionheroClient' })
    assert.equal((await app.inject('/assets/logo.svg')).body, '<svg/>')
    assert.equal((await app.inject('/logo')).body, '<svg/>')
    assert.equal((await app.inject('/public/javascript/actionheroClient.js')).statusCode, 200)
  })
}

async function registerFails (t: TestContext, build: (app: FastifyInstance) => Promise<void>, message: RegExp): Promise<void> {
  const app = Fastify()
  t.after(() => app.close())
  await assert.rejects(async () => {
    await build(app)
    await app.ready()
  }, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'FST_AHWS_ROUTE_TAKEN')
    assert.match(error.message, message)
    return true
  })
}

test('an app folder at the public prefix, before or after the plugin, fails register naming publicPrefix', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-coexistence-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  const message = /^the route \/public\/\* is already taken .*: change the "publicPrefix" option$/
  await registerFails(t, async (app) => {
    await app.register(fastifyStatic, { root: folder, prefix: '/public/' })
    await app.register(actionheroWs, { clientJsName: null })
  }, message)
  await registerFails(t, async (app) => {
    await app.register(actionheroWs, { clientJsName: null })
    await app.register(fastifyStatic, { root: folder, prefix: '/public/' })
  }, message)
})

test('an app route at the API path fails register naming apiPath', async (t) => {
  await registerFails(t, async (app) => {
    await app.register(actionheroWs, { clientJsName: null })
    app.get('/api/:action', async () => ({}))
  }, /^the route \/api\/:action is already taken .*: change the "apiPath" option$/)
})

test('two registrations on one socket path fail naming server.pathname; on two paths they work side by side', async (t) => {
  await registerFails(t, async (app) => {
    await app.register(async (one) => { await one.register(actionheroWs, { clientJsName: null }) })
    await app.register(async (two) => { await two.register(actionheroWs, { clientJsName: null, apiPath: '/api2', publicPrefix: '/public2/' }) })
  }, /^the route \/primus is already taken .*: change the "server.pathname" option$/)

  const app = Fastify()
  t.after(() => app.close())
  const servers: Array<FastifyInstance['actionheroWs']> = []
  await app.register(async (one) => {
    await one.register(actionheroWs, { clientJsName: null, welcomeMessage: 'one' })
    servers.push(one.actionheroWs)
  })
  await app.register(async (two) => {
    await two.register(actionheroWs, { clientJsName: null, welcomeMessage: 'two', server: { pathname: '/two' }, apiPath: '/api2', publicPrefix: '/public2/' })
    servers.push(two.actionheroWs)
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const one = await TestClient.connect(t, url)
  assert.equal(one.messages[0]?.welcome, 'one')
  const Two = createPrimusSocket({ transformer: 'websockets', parser: 'JSON', pathname: '/two' })
  const two = new Two(url, { strategy: false })
  t.after(() => two.end())
  assert.deepEqual(structuredClone(await new Promise((resolve) => two.once('data', resolve))), { context: 'api', welcome: 'two' })
  assert.deepEqual(servers.map((server) => server.connections.size), [1, 1])
})

test('@fastify/websocket in a context of its own, which routes every upgrade too: each handshake reaches Primus once', { timeout: 30_000 }, async (t) => {
  let connections = 0
  const app = Fastify()
  t.after(() => app.close())
  await app.register(async (realtime) => {
    await realtime.register(fastifyWebsocket)
    realtime.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (data) => socket.send(`echo ${String(data)}`))
    })
  })
  await app.register(actionheroWs, { clientJsName: null })
  app.actionheroWs.addHook('onConnect', () => { connections++ })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  assert.equal(await echoOver(`${url.replace('http', 'ws')}/ws`, 'hi'), 'echo hi')
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK')
  assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'frames are not corrupted by a second upgrade')
  assert.equal(connections, 1)
  assert.equal(app.actionheroWs.connections.size, 1)
})
