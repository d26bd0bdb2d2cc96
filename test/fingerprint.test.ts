import assert from 'node:assert/strict'
import { test } from 'node:test'
import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import actionheroWs from '../lib/index.js'
import { sleep, startApp, TestClient } from './helpers.js'

function cookieFrom (setCookie: string | string[] | undefined, key = 'sessionID'): { value: string, attributes: string[] } {
  const header = [setCookie ?? []].flat().find((cookie) => cookie.startsWith(`${key}=`))
  assert.ok(header, `a ${key} cookie is set`)
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim())
  return { value: pair.slice(key.length + 1), attributes }
}

test('a response to a request without the cookie sets it: 128+ random bits, HttpOnly, SameSite=Lax, Path=/', async (t) => {
  const { app, url } = await startApp(t, {}, { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const response = await fetch(`${url}/me`)
  const { value, attributes } = cookieFrom(response.headers.getSetCookie())
  assert.match(value, /^[0-9a-f]{32}$/)
  assert.deepEqual(attributes.sort(), ['HttpOnly', 'Path=/', 'SameSite=Lax'])
  assert.deepEqual(await response.json(), { fingerprint: value })
  const again = await app.inject({ url: '/me' })
  assert.notEqual(cookieFrom(again.headers['set-cookie']).value, value, 'every new visitor gets their own')
})

test('a request that has the cookie keeps it and exposes it as request.fingerprint', async (t) => {
  const { app } = await startApp(t, {}, { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const response = await app.inject({ url: '/me', headers: { cookie: 'sessionID=known-visitor' } })
  assert.equal(response.headers['set-cookie'], undefined)
  assert.deepEqual(response.json(), { fingerprint: 'known-visitor' })
})

test('the cookie set by a route == request.fingerprint == connection.fingerprint', async (t) => {
  const { app, url } = await startApp(t, {}, { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const page = await fetch(`${url}/me`)
  const { value: cookie } = cookieFrom(page.headers.getSetCookie())
  const { fingerprint: requestFingerprint } = await page.json() as { fingerprint: string }
  const client = await TestClient.connect(t, url, { transport: { headers: { cookie: `sessionID=${cookie}` } } })
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string, fingerprint: string } }
  const connection = app.actionheroWs.connections.get(data.id)
  assert.equal(requestFingerprint, cookie)
  assert.equal(connection?.fingerprint, cookie)
  assert.equal(data.fingerprint, cookie)
})

test('sendToFingerprint reaches every socket of that visitor and no one else', async (t) => {
  const { app, url } = await startApp(t)
  const tab1 = await TestClient.connect(t, url, { transport: { headers: { cookie: 'sessionID=alice' } } })
  const tab2 = await TestClient.connect(t, url, { transport: { headers: { cookie: 'other=1; sessionID=alice' } } })
  const bob = await TestClient.connect(t, url, { transport: { headers: { cookie: 'sessionID=bob' } } })
  const anonymous = await TestClient.connect(t, url)
  assert.equal(await app.actionheroWs.sendToFingerprint('alice', { context: 'alert', message: 'for alice' }), 2)
  await tab1.next((message) => message.message === 'for alice')
  await tab2.next((message) => message.message === 'for alice')
  await sleep(100)
  assert.equal(bob.messages.some((message) => message.message === 'for alice'), false)
  assert.equal(anonymous.messages.some((message) => message.message === 'for alice'), false)
  assert.equal(await app.actionheroWs.sendToFingerprint('nobody', { hello: 1 }), 0)
  tab1.end()
  tab2.end()
  await sleep(100)
  assert.equal(await app.actionheroWs.sendToFingerprint('alice', { hello: 1 }), 0, 'closed sockets are forgotten')
})

test('fingerprint options: cookieKey, cookie attributes, setCookie: false', async (t) => {
  const custom = await startApp(t, { fingerprint: { cookieKey: 'visitor', cookie: { sameSite: 'strict', maxAge: 3600 } } },
    { setup: (app) => { app.get('/', async (request) => ({ fingerprint: request.fingerprint })) } })
  const response = await custom.app.inject('/')
  const { value, attributes } = cookieFrom(response.headers['set-cookie'], 'visitor')
  assert.ok(attributes.includes('SameSite=Strict'))
  assert.ok(attributes.includes('Max-Age=3600'))
  assert.equal(response.json().fingerprint, value)
  const client = await TestClient.connect(t, custom.url, { transport: { headers: { cookie: 'sessionID=ignored; visitor=v1' } } })
  assert.equal(((await client.request({ event: 'detailsView' })).data as { fingerprint: string }).fingerprint, 'v1')

  const quiet = await startApp(t, { fingerprint: { setCookie: false } }, { setup: (app) => { app.get('/', async (request) => ({ fingerprint: request.fingerprint })) } })
  const unset = await quiet.app.inject('/')
  assert.equal(unset.headers['set-cookie'], undefined)
  assert.deepEqual(unset.json(), { fingerprint: null })
  assert.deepEqual((await quiet.app.inject({ url: '/', headers: { cookie: 'sessionID=s1' } })).json(), { fingerprint: 's1' })
})

test('the cookie is Secure on HTTPS (through a trusted proxy)', async (t) => {
  const { app } = await startApp(t, {}, { fastify: { trustProxy: true } })
  const response = await app.inject({ url: '/anything', headers: { 'x-forwarded-proto': 'https' } })
  assert.ok(cookieFrom(response.headers['set-cookie']).attributes.includes('Secure'))
})

test('an app that registered @fastify/cookie itself keeps it', async (t) => {
  const app = Fastify()
  await app.register(fastifyCookie, { secret: 'app-secret' })
  await app.register(actionheroWs, { clientJsName: null })
  app.get('/', async (request, reply) => {
    reply.setCookie('signed', 'value', { signed: true })
    return { fingerprint: request.fingerprint }
  })
  t.after(() => app.close())
  const response = await app.inject('/')
  assert.ok(cookieFrom(response.headers['set-cookie'], 'signed').value.startsWith('value.'), 'the app\'s secret signs')
  assert.equal(response.json().fingerprint, cookieFrom(response.headers['set-cookie']).value)
})
