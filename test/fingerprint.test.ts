import assert from 'node:assert/strict'
import { test } from 'node:test'
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { RedisSchema } from '../lib/cluster/redis-schema.js'
import actionheroWs from '../lib/index.js'
import { createCluster, keysUnder, needRedis } from './cluster-helpers.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

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

const SECRET = 'a-secret-of-the-app-32-characters-at-least'
const SIGNED = /^([0-9a-f]{32})\.[A-Za-z0-9_-]{43}$/

function withCookie (value: string, key = 'sessionID'): Record<string, unknown> {
  return { transport: { headers: { cookie: `${key}=${value}` } } }
}

async function fingerprintOf (client: TestClient): Promise<string | null> {
  return ((await client.request({ event: 'detailsView' })).data as { fingerprint: string | null }).fingerprint
}

/** Proves that `client` did not get `push`: a message sent after it arrives, and the push had not. */
async function assertNotReached (app: FastifyInstance, client: TestClient, push: string): Promise<void> {
  const id = ((await client.request({ event: 'detailsView' })).data as { id: string }).id
  const marker = `after ${push}`
  assert.equal(await app.actionheroWs.send(id, { context: 'alert', message: marker }), true)
  await client.next((message) => message.message === marker)
  assert.equal(client.messages.some((message) => message.message === push), false, `${push} did not reach this socket`)
}

test('without a secret, any bounded value is taken as it is (ActionHero\'s behaviour): a copied value shares the pushes', async (t) => {
  const { app, url } = await startApp(t)
  const visitor = await TestClient.connect(t, url, withCookie('visitor-1'))
  const copy = await TestClient.connect(t, url, withCookie('visitor-1'))
  assert.equal(await app.actionheroWs.sendToFingerprint('visitor-1', { context: 'alert', message: 'shared' }), 2)
  await visitor.next((message) => message.message === 'shared')
  await copy.next((message) => message.message === 'shared')
})

test('with fingerprint.secret, a socket presenting a copied or forged fingerprint has none and gets no pushes of the visitor', async (t) => {
  const { app, url } = await startApp(t, { fingerprint: { secret: SECRET } },
    { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const page = await fetch(`${url}/me`)
  const { value } = cookieFrom(page.headers.getSetCookie())
  const id = SIGNED.exec(value)?.[1]
  assert.ok(id !== undefined, `a signed value is issued: ${value}`)
  assert.deepEqual(await page.json(), { fingerprint: id }, 'request.fingerprint is the id, not the signed value')

  const visitor = await TestClient.connect(t, url, withCookie(value))
  assert.equal(await fingerprintOf(visitor), id)
  const signature = value.slice(id.length + 1)
  const forged = `${id}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
  const otherSecret = await startApp(t, { fingerprint: { secret: 'another-secret-of-another-app-32-characters' } })
  const signedElsewhere = cookieFrom((await fetch(`${otherSecret.url}/`)).headers.getSetCookie()).value
  const attackers = []
  for (const presented of [id, forged, `${id}.`, `${signedElsewhere.split('.')[0]}.${signature}`, signedElsewhere]) {
    const attacker = await TestClient.connect(t, url, withCookie(presented))
    assert.equal(await fingerprintOf(attacker), null, `${presented} is no fingerprint`)
    attackers.push(attacker)
  }
  assert.equal(await app.actionheroWs.sendToFingerprint(id, { context: 'alert', message: 'for the visitor' }), 1)
  await visitor.next((message) => message.message === 'for the visitor')
  for (const attacker of attackers) await assertNotReached(app, attacker, 'for the visitor')
})

test('with fingerprint.secret, an unsigned or forged cookie is replaced over HTTP with a fresh signed one', async (t) => {
  const { app } = await startApp(t, { fingerprint: { secret: SECRET } },
    { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const first = await app.inject('/me')
  const signed = cookieFrom(first.headers['set-cookie']).value
  const kept = await app.inject({ url: '/me', cookies: { sessionID: signed } })
  assert.equal(kept.headers['set-cookie'], undefined, 'a good signed value is kept')
  assert.deepEqual(kept.json(), first.json())
  const id = String(first.json().fingerprint)
  for (const presented of [id, `${id}.${'A'.repeat(43)}`, `${id}x.${signed.split('.')[1]}`]) {
    const response = await app.inject({ url: '/me', cookies: { sessionID: presented } })
    const fresh = cookieFrom(response.headers['set-cookie']).value
    assert.match(fresh, SIGNED)
    assert.notEqual(fresh, signed)
    assert.equal(response.json().fingerprint, SIGNED.exec(fresh)?.[1], `${presented} is replaced`)
  }
})

test('fingerprint.secret rotates: the first signs, every one verifies, and an old signature is renewed with the same id', async (t) => {
  const old = await startApp(t, { fingerprint: { secret: 'the-secret-of-last-year-32-characters-long' } })
  const oldValue = cookieFrom((await fetch(`${old.url}/`)).headers.getSetCookie()).value
  const id = SIGNED.exec(oldValue)?.[1]
  const { app, url } = await startApp(t, { fingerprint: { secret: [SECRET, 'the-secret-of-last-year-32-characters-long'] } },
    { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const response = await app.inject({ url: '/me', cookies: { sessionID: oldValue } })
  assert.equal(response.json().fingerprint, id)
  const renewed = cookieFrom(response.headers['set-cookie']).value
  assert.equal(SIGNED.exec(renewed)?.[1], id, 'the same id')
  assert.notEqual(renewed, oldValue, 'signed with the current secret')
  assert.equal((await app.inject({ url: '/me', cookies: { sessionID: renewed } })).headers['set-cookie'], undefined)
  const socket = await TestClient.connect(t, url, withCookie(oldValue))
  assert.equal(await fingerprintOf(socket), id, 'the socket takes an old signature too')
})

test('a value too long, empty or with other characters than [A-Za-z0-9._~-] is no fingerprint: a new cookie over HTTP, null on the socket', async (t) => {
  const { app, url } = await startApp(t, {}, { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  const longest = 'a'.repeat(256)
  assert.deepEqual((await app.inject({ url: '/me', headers: { cookie: `sessionID=${longest}` } })).json(), { fingerprint: longest })
  assert.equal(await fingerprintOf(await TestClient.connect(t, url, withCookie(longest))), longest)
  assert.equal(await fingerprintOf(await TestClient.connect(t, url, withCookie('Az09._~-'))), 'Az09._~-')
  const refused = ['a'.repeat(257), 'x'.repeat(7 * 1024), 'a%20b', '"quoted"', 'a%2Cb', 'caf%C3%A9', 'a%00b', 'a/b', 'a:b', '%3Cscript%3E']
  for (const value of refused) {
    const response = await app.inject({ url: '/me', headers: { cookie: `sessionID=${value}` } })
    const { value: fresh } = cookieFrom(response.headers['set-cookie'])
    assert.match(fresh, /^[0-9a-f]{32}$/, `${value.slice(0, 20)} gets a new cookie`)
    assert.deepEqual(response.json(), { fingerprint: fresh })
    assert.equal(await fingerprintOf(await TestClient.connect(t, url, withCookie(value))), null, `${value.slice(0, 20)} is none on the socket`)
  }
  const empty = await app.inject({ url: '/me', headers: { cookie: 'sessionID=' } })
  assert.match(cookieFrom(empty.headers['set-cookie']).value, /^[0-9a-f]{32}$/)
})

test('fingerprint.maxLength moves the bound', async (t) => {
  const { app } = await startApp(t, { fingerprint: { maxLength: 40 } }, { setup: (app) => { app.get('/me', async (request) => ({ fingerprint: request.fingerprint })) } })
  assert.deepEqual((await app.inject({ url: '/me', cookies: { sessionID: 'b'.repeat(40) } })).json(), { fingerprint: 'b'.repeat(40) })
  assert.notEqual((await app.inject({ url: '/me', cookies: { sessionID: 'b'.repeat(41) } })).json().fingerprint, 'b'.repeat(41))
})

test('a 7 KB value becomes no Redis key of a cluster node; a bounded one does', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const node = await cluster.startNode()
  const huge = 'h'.repeat(7 * 1024)
  const big = await TestClient.connect(t, node.url, withCookie(huge))
  const bounded = await TestClient.connect(t, node.url, withCookie('bounded-visitor'))
  const schema = new RedisSchema(cluster.prefix)
  await waitFor(async () => (await keysUnder(cluster.redisUrl, cluster.prefix)).includes(schema.fingerprint('bounded-visitor')))
  const keys = await keysUnder(cluster.redisUrl, cluster.prefix)
  assert.equal(keys.some((key) => key.includes('hhhhhhhh')), false, 'no key holds the value')
  const redis = new Redis(cluster.redisUrl)
  t.after(() => redis.disconnect())
  for (const key of keys.filter((key) => key.endsWith(':connections'))) {
    const values = await redis.hvals(key)
    assert.equal(values.some((value) => value.includes('hhhhhhhh')), false, `${key} holds no such value`)
  }
  assert.equal(await fingerprintOf(big), null)
  assert.equal(await fingerprintOf(bounded), 'bounded-visitor')
  assert.equal(await node.call('sendToFingerprint', { fingerprint: huge, message: { text: 'nobody' } }), 0)
})
