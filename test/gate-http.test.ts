/**
 * The HTTP API passes the gate the socket passes: the same origin check, the same `authorize` (its
 * result is `connection.auth`), and by default only a POST with a JSON body, which no cross-site form,
 * link or image can send. GET is opt-in (`apiMethods`), and judged by origin too.
 */
import assert from 'node:assert/strict'
import { describe, test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import WebSocket from 'ws'
import { ActionheroClient } from '../lib/client/node.js'
import actionheroWs, { defineAction, type ActionheroWsOptions, type WebConnection } from '../lib/index.js'
import { rawRequest, type RawResponse } from './fixtures/http-request.js'
import { startApp, type RunningApp } from './helpers.js'

const EVIL = 'https://evil.example'

/** An app whose `transfer` action records what it was asked to do. */
async function bank (t: TestContext, options: ActionheroWsOptions = {}): Promise<RunningApp & { transfers: string[] }> {
  const transfers: string[] = []
  const transfer = defineAction({
    name: 'transfer',
    inputs: { type: 'object', properties: { to: { type: 'string' }, amount: { type: 'integer' } }, required: ['to', 'amount'] } as const,
    run: ({ to, amount }) => {
      transfers.push(`${amount} to ${to}`)
      return { done: true }
    }
  })
  const running = await startApp(t, { actions: [transfer], ...options })
  return { ...running, transfers }
}

function post (url: string, body: string, headers: Record<string, string>): Promise<RawResponse> {
  return rawRequest(url, { method: 'POST', body, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } })
}

/** The socket's answer to a handshake from `origin`. */
function socketStatus (url: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`, { headers: { origin } })
    socket.once('open', () => {
      socket.terminate()
      resolve(101)
    })
    socket.once('unexpected-response', (_request, response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    socket.once('error', reject)
  })
}

describe('an origin the socket refuses is refused over HTTP', () => {
  test('GET, a text/plain POST (a cross-site form) and a JSON POST from https://evil.example: 403, and nothing runs', async (t) => {
    const { url, transfers } = await bank(t)
    assert.equal(await socketStatus(url, EVIL), 403)
    const cookie = 'sessionID=victim'
    const answers = [
      await rawRequest(`${url}/api/transfer?to=mallory&amount=1000`, { headers: { origin: EVIL, cookie } }),
      await post(`${url}/api/transfer`, 'to=mallory&amount=1000', { origin: EVIL, cookie, 'content-type': 'text/plain' }),
      await post(`${url}/api/transfer`, '{"to":"mallory","amount":1000}', { origin: EVIL, cookie, 'content-type': 'application/json' })
    ]
    for (const answer of answers) {
      assert.equal(answer.statusCode, 403)
      assert.deepEqual(JSON.parse(answer.body), { error: 'origin not allowed' })
      assert.equal(answer.headers['access-control-allow-credentials'], undefined)
    }
    // The same call from the app's own page goes through: the test can tell a refusal from a broken API.
    const own = await post(`${url}/api/transfer`, '{"to":"bob","amount":5}', { origin: url, cookie, 'content-type': 'application/json' })
    assert.equal(own.statusCode, 200)
    assert.deepEqual(transfers, ['5 to bob'])
  })

  test('with GET opted in, a link or an image from another site (no Origin, Sec-Fetch-Site) is refused; the app\'s own page passes', async (t) => {
    const { url, transfers } = await bank(t, { apiMethods: ['GET', 'POST'] })
    const path = `${url}/api/transfer?to=mallory&amount=1000`
    for (const site of ['cross-site', 'same-site']) {
      const answer = await rawRequest(path, { headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'navigate', referer: 'https://evil.example/' } })
      assert.equal(answer.statusCode, 403, site)
    }
    assert.equal((await rawRequest(path, { headers: { origin: EVIL } })).statusCode, 403)
    assert.deepEqual(transfers, [])
    assert.equal((await rawRequest(`${url}/api/transfer?to=bob&amount=1`, { headers: { 'sec-fetch-site': 'same-origin' } })).statusCode, 200)
    assert.deepEqual(transfers, ['1 to bob'])
  })

  test('CORS on the API: an allowed origin gets its preflight and its answer with credentials, a refused one gets neither', async (t) => {
    const { url } = await bank(t, { allowedOrigins: ['https://app.example'] })
    const preflight = (origin: string): Promise<RawResponse> => rawRequest(`${url}/api/transfer`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
    })
    const refused = await preflight(EVIL)
    assert.equal(refused.statusCode, 403)
    assert.equal(refused.headers['access-control-allow-origin'], undefined)
    assert.equal(refused.headers['access-control-allow-credentials'], undefined)
    const allowed = await preflight('https://app.example')
    assert.equal(allowed.statusCode, 204)
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example')
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
    assert.equal(allowed.headers['access-control-allow-methods'], 'POST')
    assert.equal(allowed.headers['access-control-allow-headers'], 'content-type')
    const call = await post(`${url}/api/transfer`, '{"to":"bob","amount":1}', { origin: 'https://app.example', 'content-type': 'application/json' })
    assert.equal(call.statusCode, 200)
    assert.equal(call.headers['access-control-allow-origin'], 'https://app.example')
    assert.equal(call.headers['access-control-allow-credentials'], 'true')
    assert.equal(call.headers.vary, 'Origin')
    const options = await rawRequest(`${url}/api/transfer`, { method: 'OPTIONS' })
    assert.deepEqual([options.statusCode, options.headers.allow], [204, 'POST'], 'an OPTIONS that is not a preflight says what the API takes')
  })
})

describe('authorize runs on HTTP', () => {
  test('it refuses as on the socket (401, or its own 4xx) and what it returns is connection.auth', async (t) => {
    let calls = 0
    const { url } = await startApp(t, {
      authorize: (request) => {
        calls++
        if (request.headers.authorization === 'Bearer banned') throw Object.assign(new Error('banned'), { statusCode: 403 })
        if (request.headers.authorization !== 'Bearer ada') throw new Error('who are you?')
        return { user: 'ada' }
      },
      actions: [{ name: 'whoami', run: (_params, connection) => ({ type: connection.type, auth: (connection as WebConnection).auth }) }]
    })
    const call = (authorization?: string): Promise<RawResponse> =>
      post(`${url}/api/whoami`, '{}', { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) })
    const anonymous = await call()
    assert.deepEqual([anonymous.statusCode, JSON.parse(anonymous.body)], [401, { error: 'who are you?' }])
    const banned = await call('Bearer banned')
    assert.deepEqual([banned.statusCode, JSON.parse(banned.body)], [403, { error: 'banned' }])
    const ada = await call('Bearer ada')
    assert.deepEqual([ada.statusCode, JSON.parse(ada.body)], [200, { type: 'web', auth: { user: 'ada' } }])
    assert.equal(calls, 3)
    // A request the API refuses by its shape does not reach authorize.
    assert.equal((await rawRequest(`${url}/api/whoami`, { headers: { authorization: 'Bearer ada' } })).statusCode, 405)
    assert.equal((await post(`${url}/api/whoami`, 'x', { authorization: 'Bearer ada', 'content-type': 'text/plain' })).statusCode, 415)
    assert.equal(calls, 3)
  })

  test('a refused API call is logged at info with its reason', async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const { url } = await startApp(t, { authorize: () => { throw new Error('bad token') } }, {
      fastify: { logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } }
    })
    assert.equal((await post(`${url}/api/documentation`, '{}', { 'content-type': 'application/json' })).statusCode, 401)
    assert.equal((await post(`${url}/api/documentation`, '{}', { 'content-type': 'application/json', origin: EVIL })).statusCode, 403)
    const refusals = lines.filter((line) => line.msg === 'fastify-actionhero-ws: API request refused')
    assert.deepEqual(refusals.map(({ level, reason, statusCode }) => ({ level, reason, statusCode })), [
      { level: 30, reason: 'bad token', statusCode: 401 },
      { level: 30, reason: 'origin not allowed', statusCode: 403 }
    ])
  })
})

describe('POST with JSON by default; GET opt-in', () => {
  test('GET and HEAD answer 405 with Allow: POST; a body that is not JSON answers 415', async (t) => {
    const { url, transfers } = await bank(t)
    const get = await rawRequest(`${url}/api/transfer?to=bob&amount=1`)
    assert.deepEqual([get.statusCode, get.headers.allow, JSON.parse(get.body)], [405, 'POST', { error: 'this HTTP method is not allowed for actions' }])
    const head = await rawRequest(`${url}/api/transfer?to=bob&amount=1`, { method: 'HEAD' })
    assert.deepEqual([head.statusCode, head.headers.allow], [405, 'POST'])
    const bodies: Array<[string, string]> = [
      ['text/plain', '{"to":"bob","amount":1}'],
      ['text/plain;charset=UTF-8', '{"to":"bob","amount":1}'],
      ['application/x-www-form-urlencoded', 'to=bob&amount=1'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="to"\r\n\r\nbob\r\n--x--\r\n'],
      ['application/jsonp', '{"to":"bob","amount":1}']
    ]
    for (const [type, body] of bodies) {
      const answer = await post(`${url}/api/transfer`, body, { 'content-type': type })
      assert.deepEqual([answer.statusCode, JSON.parse(answer.body)], [415, { error: 'the body of an action must be JSON (Content-Type: application/json)' }], type)
    }
    const untyped = await post(`${url}/api/transfer`, '{"to":"bob","amount":1}', {})
    assert.equal(untyped.statusCode, 415, 'a body without a Content-Type is not taken for JSON')
    assert.deepEqual(transfers, [])
    assert.equal((await post(`${url}/api/transfer`, '{"to":"bob","amount":1}', { 'content-type': 'Application/JSON; charset=utf-8' })).statusCode, 200)
    assert.equal((await post(`${url}/api/transfer?to=carol&amount=2`, '', {})).statusCode, 200, 'no body: the params come from the query')
    assert.deepEqual(transfers, ['1 to bob', '2 to carol'])
  })

  test('apiMethods: ["GET", "POST"] opts GET in, with params from the query; ["GET"] alone refuses POST', async (t) => {
    const both = await bank(t, { apiMethods: ['GET', 'POST'] })
    const get = await rawRequest(`${both.url}/api/transfer?to=bob&amount=1`)
    assert.deepEqual([get.statusCode, JSON.parse(get.body)], [200, { done: true }])
    assert.equal((await rawRequest(`${both.url}/api?action=transfer&to=bob&amount=2`)).statusCode, 200)
    assert.equal((await post(`${both.url}/api/transfer`, '{"to":"bob","amount":3}', { 'content-type': 'application/json' })).statusCode, 200)
    assert.deepEqual(both.transfers, ['1 to bob', '2 to bob', '3 to bob'])
    const getOnly = await bank(t, { apiMethods: ['get'] as unknown as ['GET'] })
    const refused = await post(`${getOnly.url}/api/transfer`, '{"to":"bob","amount":1}', { 'content-type': 'application/json' })
    assert.deepEqual([refused.statusCode, refused.headers.allow], [405, 'GET'])
  })

  test('a bad apiMethods fails register', async () => {
    for (const apiMethods of [[], ['PUT'], 'GET', [1]]) {
      const app = Fastify()
      await assert.rejects(async () => { await app.register(actionheroWs, { clientJsName: null, apiMethods: apiMethods as ['GET'] }) },
        /"apiMethods" option must be a non-empty array of "GET", "POST"/)
      await app.close()
    }
  })

  test('the Node client\'s HTTP fallback POSTs JSON and works with the defaults', async (t) => {
    const { url, transfers } = await bank(t)
    const client = new ActionheroClient({ url })
    const reply = await client.action('transfer', { to: 'bob', amount: 7 })
    assert.deepEqual(reply, { done: true, context: 'response' })
    assert.deepEqual(transfers, ['7 to bob'])
  })
})
