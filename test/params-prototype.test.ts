/**
 * `__proto__`, `constructor` and `prototype` keys never reach an action, at any depth, on the socket or
 * over HTTP: an `Object.assign` or a deep merge in an action cannot change a prototype with them.
 * JSON.parse makes `__proto__` an own key; Fastify refuses it in an HTTP body, and a query string
 * parser that nests (`a[b]=c`) can make one too.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defineAction, type ActionDefinition } from '../lib/index.js'
import { rawRequest } from './fixtures/http-request.js'
import { startApp, TestClient } from './helpers.js'

/** A deep merge as apps write them, unguarded. */
function merge (target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'object' && value !== null) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {}
      merge(target[key] as Record<string, unknown>, value as Record<string, unknown>)
    } else {
      target[key] = value
    }
  }
  return target
}

const actions: ActionDefinition[] = [
  defineAction({
    name: 'assign',
    inputs: { type: 'object', additionalProperties: true },
    run: (params, connection) => {
      const user = Object.assign({}, params) as { isAdmin?: unknown }
      return { isAdmin: user.isAdmin ?? null, seen: Object.keys(connection.params) }
    }
  }) as ActionDefinition,
  defineAction({
    name: 'profile',
    inputs: { type: 'object', properties: { profile: { type: 'object' }, list: { type: 'array' } } },
    run: ({ profile, list }) => {
      const user = Object.assign({}, profile) as { isAdmin?: unknown }
      const item = Object.assign({}, (list as unknown[] | undefined)?.[0]) as { isAdmin?: unknown }
      return { isAdmin: user.isAdmin ?? null, itemIsAdmin: item.isAdmin ?? null, profile }
    }
  }) as ActionDefinition,
  defineAction({
    name: 'settings',
    inputs: { type: 'object', additionalProperties: true },
    run: (params) => ({ merged: merge({}, params) })
  }) as ActionDefinition
]

test('on the socket: an own __proto__ (nested too, in arrays too) does not give isAdmin to an Object.assign', async (t) => {
  const { url } = await startApp(t, { actions })
  const client = await TestClient.connect(t, url)
  // As a hostile client sends them: JSON whose `__proto__` is an own key once parsed.
  const top = await client.request({ event: 'action', params: JSON.parse('{"action":"assign","name":"eve","__proto__":{"isAdmin":true}}') as object })
  assert.deepEqual([top.isAdmin, top.seen, top.error], [null, ['action', 'name'], undefined])
  const nested = await client.request({
    event: 'action',
    params: JSON.parse('{"action":"profile","profile":{"name":"eve","__proto__":{"isAdmin":true}},"list":[{"__proto__":{"isAdmin":true}}]}') as object
  })
  assert.deepEqual([nested.isAdmin, nested.itemIsAdmin, nested.profile], [null, null, { name: 'eve' }])
})

test('on the socket: constructor.prototype does not pollute Object.prototype through a deep merge', async (t) => {
  t.after(() => { delete (Object.prototype as Record<string, unknown>).polluted })
  const { url } = await startApp(t, { actions })
  const client = await TestClient.connect(t, url)
  const reply = await client.request({
    event: 'action',
    params: JSON.parse('{"action":"settings","theme":"dark","constructor":{"prototype":{"polluted":true}},"nested":{"prototype":{"x":1},"ok":1}}') as object
  })
  assert.equal(reply.error, undefined)
  assert.deepEqual(reply.merged, { action: 'settings', theme: 'dark', nested: { ok: 1 } })
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test('over HTTP: a query string parsed into nested objects (__proto__[isAdmin]=true) does not give isAdmin', async (t) => {
  const { url } = await startApp(t, { actions }, {
    fastify: {
      // A nesting parser, as qs with plainObjects makes: null-prototype objects, where `__proto__` is an own key.
      querystringParser: (query) => {
        const parsed: Record<string, unknown> = Object.create(null) as Record<string, unknown>
        for (const [key, value] of new URLSearchParams(query)) {
          const [, outer, inner] = /^([^[]+)\[([^\]]+)\]$/.exec(key) ?? [undefined, key, undefined]
          if (outer === undefined) continue
          if (inner === undefined) {
            parsed[outer] = value
          } else {
            const object = (parsed[outer] ??= Object.create(null)) as Record<string, unknown>
            object[inner] = value
          }
        }
        return parsed
      }
    }
  })
  const answer = await rawRequest(`${url}/api/assign?name=eve&__proto__[isAdmin]=true`, { method: 'POST' })
  assert.equal(answer.statusCode, 200)
  assert.deepEqual(JSON.parse(answer.body), { isAdmin: null, seen: ['name'] })
})

test('over HTTP with Fastify\'s own parsers: the query string keeps no __proto__ key, a JSON body with one is refused', async (t) => {
  const { url } = await startApp(t, { actions })
  const query = await rawRequest(`${url}/api/assign?name=eve&__proto__[isAdmin]=true&constructor=x`, { method: 'POST' })
  assert.deepEqual(JSON.parse(query.body), { isAdmin: null, seen: ['name', '__proto__[isAdmin]'] })
  const body = '{"name":"eve","__proto__":{"isAdmin":true}}'
  const json = await rawRequest(`${url}/api/assign`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } })
  assert.equal(json.statusCode, 400)
})
