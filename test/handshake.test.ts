import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { Browser } from 'playwright-core'
import { ActionheroClient } from '../lib/client/node.js'
import type { HandshakeRequest } from '../lib/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { handshake, type Refusal } from './fixtures/http-request.js'
import './fixtures/client/page.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

declare module 'fastify' {
  interface Session {
    user?: string
  }
}

test('same origin is allowed by default, other origins get 403 and never become connections', async (t) => {
  let connects = 0
  const { app, url, port } = await startApp(t, {}, { setup: (app) => { app.actionheroWs.addHook('onConnect', () => { connects++ }) } })
  assert.equal(await handshake(url, { origin: `http://127.0.0.1:${port}` }), 'open')
  assert.equal(await handshake(url), 'open', 'clients that send no Origin (not browsers) are let in')
  assert.deepEqual(await handshake(url, { origin: 'https://evil.example' }), { statusCode: 403, body: '{"error":"origin not allowed"}' })
  assert.deepEqual(await handshake(url, { origin: 'null' }), { statusCode: 403, body: '{"error":"origin not allowed"}' })
  assert.deepEqual(await handshake(url, { origin: `http://127.0.0.1:${port + 1}` }), { statusCode: 403, body: '{"error":"origin not allowed"}' })
  await sleep(50)
  assert.equal(connects, 2)
  assert.equal(app.actionheroWs.connections.size, 0)
})

test('allowedOrigins adds origins; "*" allows any', async (t) => {
  const listed = await startApp(t, { allowedOrigins: ['https://app.example'] })
  assert.equal(await handshake(listed.url, { origin: 'https://app.example' }), 'open')
  assert.equal(await handshake(listed.url, { origin: `http://127.0.0.1:${listed.port}` }), 'open', 'its own origin still works')
  assert.equal((await handshake(listed.url, { origin: 'https://other.example' }) as Refusal).statusCode, 403)
  const any = await startApp(t, { allowedOrigins: '*' })
  assert.equal(await handshake(any.url, { origin: 'https://anyone.example' }), 'open')
})

test('authorize gets the Fastify request: headers, query, ip, fingerprint; throwing refuses with 401', async (t) => {
  const seen: HandshakeRequest[] = []
  const { app, url } = await startApp(t, {
    authorize: async (request) => {
      seen.push(request)
      if (request.query.token !== 'letmein') throw new Error('bad token')
      return { user: 'ada' }
    }
  })
  const refused = await handshake(url, { cookie: 'sessionID=fp1' }, '/primus?token=nope')
  assert.deepEqual(refused, { statusCode: 401, body: '{"error":"bad token"}' })
  assert.equal(app.actionheroWs.connections.size, 0)

  const client = await TestClient.connect(t, `${url}?token=letmein`, { transport: { headers: { cookie: 'sessionID=fp1', 'x-app': 'demo' } } })
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  const request = seen.at(-1)
  assert.ok(request)
  assert.equal(request.headers.cookie, 'sessionID=fp1')
  assert.equal(request.fingerprint, 'fp1')
  assert.equal(typeof request.id, 'string', 'a Fastify request, with its id')
  assert.equal(request.headers['x-app'], 'demo')
  assert.equal(request.query.token, 'letmein')
  assert.equal(request.ip, '127.0.0.1')
  assert.deepEqual(app.actionheroWs.connections.get(data.id)?.auth, { user: 'ada' }, 'what authorize returned is connection.auth')
})

test('authorize may refuse with its own 4xx status; another Error is a 401; what is not an Error is a failure (500, generic)', async (t) => {
  const { url } = await startApp(t, {
    authorize: (request) => {
      if (request.query.mode === 'forbidden') throw Object.assign(new Error('banned'), { statusCode: 403 })
      if (request.query.mode === 'server') throw Object.assign(new Error('db down'), { statusCode: 500 })
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      throw 'no'
    }
  })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=forbidden'), { statusCode: 403, body: '{"error":"banned"}' })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=server'), { statusCode: 500, body: '{"error":"db down"}' })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=string'), { statusCode: 500, body: '{"error":"The server experienced an internal error"}' })
})

test('the app\'s hooks run on the handshake: one that replies refuses it, one that throws answers with Fastify\'s error handling', async (t) => {
  const seen: string[] = []
  let connects = 0
  const { url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.addHook('onConnect', () => { connects++ })
      app.addHook('onRequest', async (request, reply) => {
        seen.push(`${request.method} ${request.url}`)
        if (request.headers['x-key'] === 'none') return reply.code(401).send({ error: 'no key' })
        if (request.headers['x-key'] === 'boom') throw Object.assign(new Error('rate limited'), { statusCode: 429 })
      })
    }
  })
  assert.deepEqual(await handshake(url, { 'x-key': 'none' }), { statusCode: 401, body: '{"error":"no key"}' })
  const thrown = await handshake(url, { 'x-key': 'boom' }) as Refusal
  assert.equal(thrown.statusCode, 429)
  assert.equal(JSON.parse(thrown.body).message, 'rate limited')
  assert.equal(await handshake(url, { 'x-key': 'ok' }), 'open')
  assert.deepEqual(seen, ['GET /primus', 'GET /primus', 'GET /primus'])
  await waitFor(() => connects === 1)
  assert.equal(connects, 1, 'only the handshake the hook let through became a connection')
})

test('authorize sees the app\'s request decorations, set by its hooks', async (t) => {
  const { app, url } = await startApp(t, {
    authorize: (request) => {
      const { user } = request as typeof request & { user: string | null }
      if (user === null) throw new Error('who are you?')
      return { user }
    }
  }, {
    setup: (app) => {
      app.decorateRequest('user', null)
      app.addHook('preHandler', async (request) => {
        (request as typeof request & { user: string | null }).user = request.headers.authorization === 'Bearer ada' ? 'ada' : null
      })
    }
  })
  assert.deepEqual(await handshake(url), { statusCode: 401, body: '{"error":"who are you?"}' })
  const client = await TestClient.connect(t, url, { transport: { headers: { authorization: 'Bearer ada' } } })
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  assert.deepEqual(app.actionheroWs.connections.get(data.id)?.auth, { user: 'ada' })
})

test('a refused handshake is logged with its reason', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const { url } = await startApp(t, { authorize: () => { throw new Error('bad token') } }, {
    fastify: { logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } }
  })
  assert.equal((await handshake(url) as Refusal).statusCode, 401)
  assert.equal((await handshake(url, { origin: 'https://evil.example' }) as Refusal).statusCode, 403)
  const refusals = lines.filter((line) => line.msg === 'fastify-actionhero-ws: handshake refused')
  assert.deepEqual(refusals.map(({ reason, statusCode }) => ({ reason, statusCode })), [
    { reason: 'bad token', statusCode: 401 },
    { reason: 'origin not allowed', statusCode: 403 }
  ])
})

test('remoteIP follows the app\'s trustProxy', async (t) => {
  const { app, url } = await startApp(t, {}, { fastify: { trustProxy: '127.0.0.1' } })
  const client = await TestClient.connect(t, url, { transport: { headers: { 'x-forwarded-for': '203.0.113.7' } } })
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string, remoteIP: string } }
  assert.equal(data.remoteIP, '203.0.113.7')
  assert.equal(app.actionheroWs.connections.get(data.id)?.handshake.ip, '203.0.113.7')
})

test('authorize reads a session that @fastify/session set on a login route', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {
    fingerprint: { cookieKey: 'visitor' },
    authorize: (request) => {
      const user = request.session.get('user')
      if (user === undefined) throw Object.assign(new Error('log in first'), { statusCode: 403 })
      return { user }
    }
  }, {
    setup: async (app) => {
      await app.register(fastifyCookie)
      await app.register(fastifySession, { secret: 'a secret of at least thirty-two characters', cookie: { secure: false } })
      app.post('/login', async (request) => {
        request.session.set('user', 'ada')
        return { ok: true }
      })
    }
  })
  assert.deepEqual(await handshake(url), { statusCode: 403, body: '{"error":"log in first"}' })
  const login = await fetch(`${url}/login`, { method: 'POST' })
  const cookie = login.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ')
  assert.match(cookie, /sessionId=/)
  const client = await TestClient.connect(t, url, { transport: { headers: { cookie } } })
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string, fingerprint: string } }
  assert.deepEqual(app.actionheroWs.connections.get(data.id)?.auth, { user: 'ada' })
  assert.equal(data.fingerprint, cookie.match(/visitor=([^;]+)/)?.[1], 'the fingerprint cookie came with the login answer too')
})

test('the Node client\'s connect() settles within its timeout, with a readable reason: closed port, silent server, refusal', { timeout: 30_000 }, async (t) => {
  const silent = createServer(() => {}) // accepts, never answers
  const sockets = new Set<Socket>()
  silent.on('connection', (socket) => sockets.add(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const closedPort = (closed.address() as AddressInfo).port
  await new Promise((resolve) => closed.close(resolve))
  const { url } = await startApp(t, { authorize: () => { throw new Error('bad token') } })

  const cases: Array<[string, RegExp]> = [
    [`http://127.0.0.1:${closedPort}`, /ECONNREFUSED/],
    [`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, /could not connect to http:\/\/127\.0\.0\.1:\d+ within 1000 ms/],
    [url, /401/]
  ]
  for (const [target, reason] of cases) {
    const client = new ActionheroClient({ url: target, timeout: 1000 })
    t.after(() => client.disconnect())
    client.on('error', () => {}) // the reason comes with the rejection
    const started = Date.now()
    await assert.rejects(client.connect(), reason)
    const took = Date.now() - started
    assert.ok(took < 3000, `${target}: settled after ${took} ms`)
    assert.notEqual(client.state, 'connecting')
  }
})

describe('a refused handshake in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('connect() rejects with a sentence, not an empty error, and the server logs the reason', { timeout: 60_000 }, async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const { url } = await startApp(t, { clientJsName: 'actionheroClient', authorize: () => { throw new Error('bad token') } }, {
      fastify: { logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } },
      setup: (app) => {
        app.get('/', (_request, reply) => reply.type('text/html').send('<!doctype html><script src="/public/javascript/actionheroClient.js"></script>'))
      }
    })
    const { page } = await openPage(t, browser, url)
    const message = await page.evaluate(async () => {
      const client = new ActionheroClient({ timeout: 5000 })
      return await client.connect().then(() => 'connected', (error: Error) => error.message)
    })
    assert.equal(message, `could not connect to ${url}: the handshake failed (refused by the server, or no server there)`)
    assert.ok(lines.some((line) => line.msg === 'fastify-actionhero-ws: handshake refused' && line.reason === 'bad token'))
  })
})
