import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import actionheroWs, { defineAction, type WebConnection } from '../lib/index.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  run: ({ a, b }) => ({ sum: a + b })
})

async function buildApp (t: { after: (fn: () => unknown) => void }, options = {}) {
  const app = Fastify()
  await app.register(actionheroWs, {
    clientJsName: null,
    actions: [
      add,
      { name: 'text', run: () => 'plain' },
      { name: 'fails', run: () => { throw new Error('no luck') } },
      { name: 'teapot', run: () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) } },
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      { name: 'throwsString', run: () => { throw 'oops' as unknown as Error } },
      { name: 'socketOnly', blockedConnectionTypes: ['web'], run: () => ({}) },
      {
        name: 'who',
        run: (_params, connection) => {
          const web = connection as WebConnection
          return { type: web.type, ip: web.remoteIP, fingerprint: web.fingerprint, url: web.request.url }
        }
      }
    ],
    ...options
  })
  t.after(() => app.close())
  return app
}

/** A POST of `params` as JSON, the way the client's HTTP fallback calls an action. */
function post (url: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return { method: 'POST' as const, url, payload: params, headers }
}

test('POST /api/:action takes params from the JSON body, over the query', async (t) => {
  const app = await buildApp(t)
  const response = await app.inject(post('/api/add?a=1', { a: 10, b: 5 }))
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { sum: 15 })
})

test('a POST without a body takes its params from the query', async (t) => {
  const app = await buildApp(t)
  const response = await app.inject({ method: 'POST', url: '/api/add?a=2&b=40&ignored=1' })
  assert.equal(response.statusCode, 200)
  assert.deepEqual(response.json(), { sum: 42 })
})

test('/api?action=name works with the action in the query or the body', async (t) => {
  const app = await buildApp(t)
  assert.deepEqual((await app.inject({ method: 'POST', url: '/api?action=add&a=1&b=1' })).json(), { sum: 2 })
  assert.deepEqual((await app.inject(post('/api', { action: 'add', a: 3, b: 4 }))).json(), { sum: 7 })
})

test('errors get 4xx/5xx with { error }', async (t) => {
  const app = await buildApp(t)
  const cases: Array<[string, number, string]> = [
    ['/api/subtract', 404, 'unknown action or invalid apiVersion'],
    ['/api', 404, 'unknown action or invalid apiVersion'],
    ['/api/add?a=1', 400, 'b is a required parameter for this action'],
    ['/api/add?a=1&b=x', 400, '`b` must be number'],
    ['/api/socketOnly', 403, 'this action does not support the web connection type'],
    ['/api/fails', 500, 'no luck'],
    ['/api/teapot', 418, 'short and stout'],
    ['/api/throwsString', 500, 'The server experienced an internal error']
  ]
  for (const [url, statusCode, error] of cases) {
    const response = await app.inject({ method: 'POST', url })
    assert.equal(response.statusCode, statusCode, url)
    assert.deepEqual(response.json(), { error }, url)
  }
})

test('a non-object result is sent under data', async (t) => {
  const app = await buildApp(t)
  assert.deepEqual((await app.inject(post('/api/text'))).json(), { data: 'plain' })
})

test('an action over HTTP gets a web connection with the request, its address and fingerprint', async (t) => {
  const app = await buildApp(t)
  const response = await app.inject(post('/api/who', {}, { cookie: 'sessionID=visitor1' }))
  assert.deepEqual(response.json(), { type: 'web', ip: '127.0.0.1', fingerprint: 'visitor1', url: '/api/who' })
})

test('apiPath moves the routes, false removes them', async (t) => {
  const moved = await buildApp(t, { apiPath: '/rpc' })
  assert.deepEqual((await moved.inject(post('/rpc/add', { a: 1, b: 2 }))).json(), { sum: 3 })
  assert.equal((await moved.inject(post('/api/add', { a: 1, b: 2 }))).statusCode, 404)
  const none = await buildApp(t, { apiPath: false })
  const response = await none.inject(post('/api/add', { a: 1, b: 2 }))
  assert.equal(response.statusCode, 404)
  assert.equal(response.json().error, 'Not Found', 'Fastify\'s own 404, not an action error')
})
