/**
 * The gate's origin rules on every way into the socket: the WebSocket upgrade and the long-polling
 * requests of every transformer that has them. Browsers send no Origin on a `<script>` (JSONP polling)
 * or a same-origin GET: `Sec-Fetch-Site` says where those come from. The scheme counts in "same
 * origin", `null` is refused, and CORS headers follow the gate's decision, preflights included.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import actionheroWs, { type ActionheroWsOptions } from '../lib/index.js'
import { handshake as upgrade, rawRequest, type RawResponse } from './fixtures/http-request.js'
import { startApp, TestClient, type RunningApp } from './helpers.js'

const REFUSED = '{"error":"origin not allowed"}'

/** A long-polling request of each transformer (that opens a session, where it can), as the page's client sends it. */
const POLLING: Array<{ transformer: string, method: string, path: () => string, passed: RegExp }> = [
  { transformer: 'engine.io', method: 'GET', path: () => '/primus/?EIO=4&transport=polling', passed: /^0\{"sid"/ },
  { transformer: 'sockjs', method: 'POST', path: () => `/primus/000/${randomBytes(8).toString('hex')}/xhr`, passed: /^o\n$/ },
  { transformer: 'browserchannel', method: 'GET', path: () => '/primus/test?VER=8&MODE=init', passed: /^\[/ }
]

/** The requests whose answer a page of another site can read without CORS (JSONP, iframes), by transformer. */
const READABLE_WITHOUT_CORS: Record<string, Array<[string, string]>> = {
  'engine.io': [['GET', '/primus/?EIO=4&transport=polling&j=0']],
  sockjs: [
    ['GET', '/primus/000/abcdefgh/jsonp?c=cb'],
    ['POST', '/primus/000/abcdefgh/jsonp_send'],
    ['GET', '/primus/000/abcdefgh/htmlfile?c=cb'],
    ['GET', '/primus/iframe.html'],
    ['GET', '/primus/iframe-0.3.4.html']
  ],
  browserchannel: [['GET', '/primus/bind?VER=8&RID=1&CVER=1&TYPE=html&zx=x&t=1'], ['GET', '/primus/test?VER=8&TYPE=html']]
}

function startTransformer (t: TestContext, transformer: string, options: ActionheroWsOptions = {}, fastify = {}): Promise<RunningApp> {
  return startApp(t, { server: { transformer }, ...options }, { fastify })
}

function assertRefused (response: RawResponse, what: string): void {
  assert.equal(response.statusCode, 403, what)
  assert.equal(response.body, REFUSED, what)
  assert.equal(response.headers['access-control-allow-origin'], undefined, `${what}: no CORS grant`)
  assert.equal(response.headers['access-control-allow-credentials'], undefined, `${what}: no credentials granted`)
}

describe('long-polling requests without Origin are judged by Sec-Fetch-Site', () => {
  for (const { transformer, method, path, passed } of POLLING) {
    test(`${transformer}: same-site and cross-site are refused with the visitor's cookie; same-origin, none and non-browsers pass`, async (t) => {
      const { app, url } = await startTransformer(t, transformer)
      const cookie = 'sessionID=victim'
      for (const site of ['same-site', 'cross-site']) {
        const response = await rawRequest(`${url}${path()}`, {
          method,
          headers: { cookie, 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script', referer: 'http://evil.example.test/' }
        })
        assertRefused(response, `Sec-Fetch-Site: ${site}`)
      }
      assertRefused(await rawRequest(`${url}${path()}`, { method, headers: { cookie, 'sec-fetch-site': 'same-site' } }), 'same-site without a Referer')
      for (const headers of [{ 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, {}] as Array<Record<string, string>>) {
        const response = await rawRequest(`${url}${path()}`, { method, headers: { cookie, ...headers } })
        assert.equal(response.statusCode, 200, JSON.stringify(headers))
        assert.match(response.body, passed, JSON.stringify(headers))
      }
      if (transformer !== 'browserchannel') {
        // Only the requests that passed became connections (browserchannel's test request opens none).
        await app.actionheroWs.sendToFingerprint('victim', { marker: true })
        assert.equal(app.actionheroWs.connections.size, 3)
      }
    })

    test(`${transformer}: same-site passes when the Referer's origin is allowed`, async (t) => {
      const { url, port } = await startTransformer(t, transformer, { allowedOrigins: ['http://app.example.test'] })
      const referers: Array<[string, number]> = [
        ['http://app.example.test/page', 200],
        [`http://127.0.0.1:${port}/page`, 200],
        [`https://127.0.0.1:${port}/page`, 403],
        ['http://evil.example.test/page', 403],
        ['not a url', 403]
      ]
      for (const [referer, statusCode] of referers) {
        const response = await rawRequest(`${url}${path()}`, { method, headers: { 'sec-fetch-site': 'same-site', referer } })
        assert.equal(response.statusCode, statusCode, referer)
      }
    })

    test(`${transformer}: "*" lets same-site and cross-site requests through`, async (t) => {
      const { url } = await startTransformer(t, transformer, { allowedOrigins: '*' })
      const response = await rawRequest(`${url}${path()}`, { method, headers: { 'sec-fetch-site': 'cross-site' } })
      assert.equal(response.statusCode, 200)
    })
  }
})

describe('JSONP and iframe transports are not served', () => {
  for (const [transformer, requests] of Object.entries(READABLE_WITHOUT_CORS)) {
    test(`${transformer}: refused whatever the headers say (over plain HTTP a browser says nothing), and no connection opens`, async (t) => {
      const { app, url, port } = await startTransformer(t, transformer)
      for (const [method, path] of requests) {
        for (const headers of [{}, { 'sec-fetch-site': 'same-origin' }, { origin: `http://127.0.0.1:${port}` }] as Array<Record<string, string>>) {
          const response = await rawRequest(`${url}${path}`, { method, headers: { cookie: 'sessionID=victim', ...headers } })
          assert.equal(response.statusCode, 403, `${method} ${path} ${JSON.stringify(headers)}`)
          assert.equal(response.body, '{"error":"JSONP and iframe transports are not served"}')
        }
      }
      assert.equal(await app.actionheroWs.sendToFingerprint('victim', { marker: true }), 0)
      assert.equal(app.actionheroWs.connections.size, 0)
    })
  }
})

describe('the scheme counts in same-origin', () => {
  for (const transformer of ['websockets', 'faye']) {
    test(`${transformer}: an upgrade from https://host to an http server is refused`, async (t) => {
      const { url, port } = await startTransformer(t, transformer)
      assert.deepEqual(await upgrade(url, { origin: `https://127.0.0.1:${port}` }), { statusCode: 403, body: REFUSED })
      assert.equal(await upgrade(url, { origin: `http://127.0.0.1:${port}` }), 'open')
    })
  }

  for (const { transformer, method, path } of POLLING) {
    test(`${transformer}: a polling request from https://host to an http server is refused`, async (t) => {
      const { url, port } = await startTransformer(t, transformer)
      assertRefused(await rawRequest(`${url}${path()}`, { method, headers: { origin: `https://127.0.0.1:${port}` } }), 'https origin')
      assert.equal((await rawRequest(`${url}${path()}`, { method, headers: { origin: `http://127.0.0.1:${port}` } })).statusCode, 200)
    })
  }

  test('behind a TLS proxy the scheme is the one trustProxy vouches for', async (t) => {
    const trusting = await startApp(t, {}, { fastify: { trustProxy: '127.0.0.1' } })
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'chat.example.com' }
    assert.equal(await upgrade(trusting.url, { ...forwarded, origin: 'https://chat.example.com' }), 'open')
    assert.equal((await upgrade(trusting.url, { ...forwarded, origin: 'http://chat.example.com' }) as { statusCode: number }).statusCode, 403)
    const untrusting = await startApp(t)
    assert.equal((await upgrade(untrusting.url, { ...forwarded, origin: 'https://chat.example.com' }) as { statusCode: number }).statusCode, 403,
      'forwarded headers from a proxy the app does not trust prove nothing')
  })

  test('Origin: null is refused, even with "*"', async (t) => {
    for (const allowedOrigins of [undefined, '*'] as const) {
      const { url } = await startApp(t, allowedOrigins === undefined ? {} : { allowedOrigins })
      assert.deepEqual(await upgrade(url, { origin: 'null' }), { statusCode: 403, body: REFUSED }, String(allowedOrigins))
    }
  })
})

describe('CORS follows the gate', () => {
  for (const { transformer, method, path } of POLLING) {
    test(`${transformer}: a refused origin gets no grant on the preflight nor on the request; an allowed one gets exactly its own`, async (t) => {
      const { url, port } = await startTransformer(t, transformer, { allowedOrigins: ['https://app.example'] })
      const evil = 'https://evil.example'
      const preflight = (origin: string): Promise<RawResponse> => rawRequest(`${url}${path()}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
      })
      assertRefused(await preflight(evil), 'preflight from a refused origin')
      assertRefused(await rawRequest(`${url}${path()}`, { method, headers: { origin: evil, cookie: 'sessionID=victim' } }), 'request from a refused origin')

      for (const origin of ['https://app.example', `http://127.0.0.1:${port}`]) {
        const allowed = await preflight(origin)
        assert.equal(allowed.statusCode, 204, origin)
        assert.equal(allowed.headers['access-control-allow-origin'], origin)
        assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
        assert.equal(allowed.headers['access-control-allow-methods'], 'GET, POST')
        assert.equal(allowed.headers['access-control-allow-headers'], 'content-type')
        assert.equal(allowed.headers.vary, 'Origin')
        const request = await rawRequest(`${url}${path()}`, { method, headers: { origin } })
        assert.equal(request.statusCode, 200, origin)
        assert.equal(request.headers['access-control-allow-origin'], origin)
        assert.equal(request.headers['access-control-allow-credentials'], 'true')
      }
    })
  }

  test('a preflight does not run authorize: it carries no credentials', async (t) => {
    let calls = 0
    const { url } = await startTransformer(t, 'engine.io', {
      allowedOrigins: ['https://app.example'],
      authorize: (request) => {
        calls++
        if (request.headers.cookie !== 'sessionID=ada') throw new Error('log in first')
      }
    })
    const preflight = await rawRequest(`${url}/primus/?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' }
    })
    assert.equal(preflight.statusCode, 204)
    assert.equal(calls, 0)
    const refused = await rawRequest(`${url}/primus/?EIO=4&transport=polling`, { headers: { origin: 'https://app.example' } })
    assert.deepEqual([refused.statusCode, refused.body], [401, '{"error":"log in first"}'])
    assert.equal(calls, 1)
  })

  test('Primus\'s own CORS layer is gone: the gate alone answers CORS', async (t) => {
    const { app } = await startApp(t)
    assert.equal((app.actionheroWs.primus as unknown as { indexOfLayer: (name: string) => number }).indexOfLayer('cors'), -1)
  })
})

describe('what the gate does not judge', () => {
  test('a Node.js client (no Origin, no Sec-Fetch-Site) connects as before', async (t) => {
    const { url } = await startApp(t)
    const client = await TestClient.connect(t, url)
    assert.equal((await client.request({ event: 'documentation' })).status, 'OK')
  })
})

describe('register', () => {
  test('"*" warns once at boot, saying what it allows', async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } })
    t.after(() => app.close())
    await app.register(actionheroWs, { clientJsName: null, allowedOrigins: '*' })
    await app.ready()
    await app.inject({ method: 'POST', url: '/api/documentation' })
    const warnings = lines.filter((line) => String(line.msg).includes('allowedOrigins'))
    assert.equal(warnings.length, 1)
    assert.match(String(warnings[0]?.msg), /any website .* with their cookies/)
    const quiet: string[] = []
    const listed = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { quiet.push(line) } } } })
    t.after(() => listed.close())
    await listed.register(actionheroWs, { clientJsName: null, allowedOrigins: ['https://app.example'] })
    await listed.ready()
    assert.deepEqual(quiet, [])
  })

  test('server.authorization (ActionHero v11\'s hook) fails register, naming authorize; so do Primus\'s CORS options', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ authorization: (_request: unknown, done: () => void) => done() }, /^"server\.authorization" option is not supported: use the "authorize" option/],
      [{ origins: '*' }, /^"server\.origins" option is not supported: use the "allowedOrigins" option/],
      [{ credentials: false }, /^"server\.credentials" option is not supported/]
    ]
    for (const [server, message] of cases) {
      const app = Fastify()
      await assert.rejects(async () => { await app.register(actionheroWs, { clientJsName: null, server }) }, (error: Error & { code?: string }) => {
        assert.equal(error.code, 'FST_AHWS_INVALID_OPTION')
        assert.match(error.message, message)
        return true
      })
      await app.close()
    }
  })
})
