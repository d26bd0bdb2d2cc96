import assert from 'node:assert/strict'
import { test } from 'node:test'
import WebSocket from 'ws'
import type { HandshakeRequest } from '../lib/index.js'
import { sleep, startApp, TestClient } from './helpers.js'

interface Refusal { statusCode: number, body: string }

/** Opens a raw WebSocket handshake and reports how it went: 'open', or the refusal's status and body. */
function handshake (url: string, headers: Record<string, string> = {}, path = '/primus'): Promise<'open' | Refusal> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, { headers })
    socket.once('open', () => {
      socket.terminate()
      resolve('open')
    })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += String(chunk) })
      response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, body }))
    })
    socket.once('error', reject)
  })
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

test('authorize sees cookies, headers, query and ip; throwing refuses with 401', async (t) => {
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
  assert.equal(request.cookies.sessionID, 'fp1')
  assert.equal(request.fingerprint, 'fp1')
  assert.equal(request.headers['x-app'], 'demo')
  assert.equal(request.query.token, 'letmein')
  assert.equal(request.ip, '127.0.0.1')
  assert.deepEqual(app.actionheroWs.connections.get(data.id)?.auth, { user: 'ada' }, 'what authorize returned is connection.auth')
})

test('authorize may refuse with its own 4xx status; anything else thrown is a 401', async (t) => {
  const { url } = await startApp(t, {
    authorize: (request) => {
      if (request.query.mode === 'forbidden') throw Object.assign(new Error('banned'), { statusCode: 403 })
      if (request.query.mode === 'server') throw Object.assign(new Error('db down'), { statusCode: 500 })
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      throw 'no'
    }
  })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=forbidden'), { statusCode: 403, body: '{"error":"banned"}' })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=server'), { statusCode: 401, body: '{"error":"db down"}' })
  assert.deepEqual(await handshake(url, {}, '/primus?mode=string'), { statusCode: 401, body: '{"error":"unauthorized"}' })
})
