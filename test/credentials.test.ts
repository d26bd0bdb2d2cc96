/**
 * Credentials that expire (issue 21): a JWT-style flow over an open socket (tokens of 2 s refreshed
 * twice, then a refresh refused and the connection closed with the reason), a client without a
 * refresh callback closed at expiry plus grace, the `refresh` verb's checks, and `reauthorize`
 * (revocation) on this node and from another.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type ClientEvents, type ClientOptions } from '../lib/client/node.js'
import type { ActionheroWsOptions, HandshakeRequest } from '../lib/index.js'
import { refreshTime } from '../lib/credentials.js'
import { ERRORS } from '../lib/index.js'
import { createCluster, needRedis } from './cluster-helpers.js'
import { sleep, startApp, TestClient } from './helpers.js'

/** Tokens as a JWT issuer would hand them out: each names a user and expires after `lifetime` ms. */
function tokenIssuer (lifetime: number) {
  const tokens = new Map<string, { user: string, expiresAt: number }>()
  const issue = (user: string): string => {
    const token = randomBytes(8).toString('hex')
    tokens.set(token, { user, expiresAt: Date.now() + lifetime })
    return token
  }
  /** The auth of a token that is known and not expired; throws otherwise, as a JWT check would. */
  const verify = (token: unknown): { user: string, expiresAt: number } => {
    const claims = typeof token === 'string' ? tokens.get(token) : undefined
    if (claims === undefined || claims.expiresAt <= Date.now()) throw new Error('invalid token')
    return { ...claims }
  }
  const options: ActionheroWsOptions = {
    authorize: (request: HandshakeRequest) => verify(request.query.token),
    refresh: (_connection, params) => verify(params.token)
  }
  return { issue, verify, options }
}

function clientOf (t: TestContext, url: string, options: ClientOptions = {}): ActionheroClient & { events: string[], closures: Array<ClientEvents['closed'][0]> } {
  const client = Object.assign(new ActionheroClient({ url, reconnect: { min: 20, max: 100 }, ...options }), { events: [] as string[], closures: [] as Array<ClientEvents['closed'][0]> })
  for (const event of ['connected', 'disconnected', 'reconnecting'] as const) client.on(event, () => client.events.push(event))
  client.on('closed', (closure) => { client.events.push('closed'); client.closures.push(closure) })
  t.after(() => client.disconnect())
  return client
}

const gone = (client: ActionheroClient): Promise<void> => new Promise((resolve) => client.once('disconnected', () => resolve()))

test('refreshTime: a third of the lifetime before the expiry, at most 60 s', () => {
  assert.equal(refreshTime(0, 3000), 2000)
  assert.equal(refreshTime(0, 600_000), 540_000)
  assert.equal(refreshTime(5000, 4000), 4000, 'expired already: now')
})

test('a token of 2 s refreshed twice over the open socket, then a refresh refused: the connection closes with the reason', { timeout: 20_000 }, async (t) => {
  const issuer = tokenIssuer(2000)
  const { app, url } = await startApp(t, { ...issuer.options, refreshGrace: 1000 })
  const supplied: string[] = []
  const client = clientOf(t, `${url}/?token=${issuer.issue('ada')}`, {
    // Two fresh tokens, then one the issuer never made.
    refresh: () => {
      const token = supplied.length < 2 ? issuer.issue('ada') : 'forged'
      supplied.push(token)
      return { token }
    }
  })
  const refreshes: unknown[] = []
  client.on('message', (message) => { if (message.context === 'refresh') refreshes.push(message) })
  const connectedAt = Date.now()
  await client.connect()
  const [connection] = app.actionheroWs.connections.values()
  const firstExpiry = connection!.expiresAt as number
  assert.equal(firstExpiry > connectedAt, true)
  await gone(client)
  assert.equal(supplied.length, 3, 'asked three times: two refreshes taken, the third refused')
  assert.equal(Date.now() > firstExpiry + 1000, true, 'the connection outlived its first token and the grace')
  assert.deepEqual(client.closures, [{ reason: 'invalid token', reconnect: false }])
  assert.deepEqual(client.events, ['connected', 'closed', 'disconnected'], 'no reconnection')
  assert.equal(refreshes.length, 3)
  assert.equal(app.actionheroWs.credentials.watched, 0, 'the closed connection keeps no timer')
})

test('a client without a refresh callback is closed at expiry plus grace', { timeout: 20_000 }, async (t) => {
  const issuer = tokenIssuer(600)
  const grace = 300
  const { app, url } = await startApp(t, { ...issuer.options, refreshGrace: grace })
  const client = clientOf(t, `${url}/?token=${issuer.issue('bob')}`)
  await client.connect()
  const expiresAt = [...app.actionheroWs.connections.values()][0]!.expiresAt as number
  assert.equal(app.actionheroWs.credentials.watched, 1)
  await gone(client)
  // Timers never fire early; Date.now() may read a millisecond behind the timer's clock.
  assert.equal(Date.now() >= expiresAt + grace - 1, true, 'not before expiry plus grace')
  assert.deepEqual(client.closures, [{ reason: ERRORS.credentialsExpired, reconnect: false }])
  assert.equal(client.state, 'disconnected')
  assert.equal(app.actionheroWs.credentials.watched, 0)
})

test('the refresh verb: refused without the refresh option, checks its params, renews the auth', { timeout: 20_000 }, async (t) => {
  const plain = await startApp(t)
  const withoutOption = await TestClient.connect(t, plain.url)
  assert.deepEqual(await withoutOption.request({ event: 'refresh', params: {} }), {
    context: 'response', status: ERRORS.unknownVerb, error: ERRORS.unknownVerb, data: null, messageCount: 1, messageId: 'm1'
  })

  const issuer = tokenIssuer(60_000)
  const { app, url } = await startApp(t, issuer.options)
  const client = await TestClient.connect(t, `${url}/?token=${issuer.issue('cy')}`)
  assert.equal((await client.request({ event: 'refresh', params: 'token' })).error, ERRORS.invalidParameter('params', 'must be an object'))
  const renewed = await client.request({ event: 'refresh', params: { token: issuer.issue('cy') } })
  const [connection] = app.actionheroWs.connections.values()
  assert.deepEqual(renewed.data, { expiresAt: connection!.expiresAt })
  assert.equal((connection!.auth as { user: string }).user, 'cy')
  // Credentials without an expiry: nothing to watch any more.
  app.actionheroWs.credentials.forget(connection!)
  connection!.renew({ user: 'cy' })
  assert.equal(connection!.expiresAt, null)
})

test('renewals of one connection are taken in the order sent: the credentials sent last are kept', { timeout: 20_000 }, async (t) => {
  const { app, url } = await startApp(t, {
    authorize: () => ({ n: 0 }),
    // The first refresh takes longer to check than the second.
    refresh: async (_connection, params) => {
      if (params.slow === true) await sleep(100)
      return { n: params.n }
    }
  })
  const client = await TestClient.connect(t, url)
  await Promise.all([
    client.request({ event: 'refresh', params: { n: 1, slow: true } }),
    client.request({ event: 'refresh', params: { n: 2 } })
  ])
  assert.deepEqual([...app.actionheroWs.connections.values()][0]!.auth, { n: 2 })
})

test('reauthorize: authorize runs again on the handshake; a refusal closes the connection with the reason', { timeout: 20_000 }, async (t) => {
  const banned = new Set<string>()
  const { app, url } = await startApp(t, {
    authorize: (request) => {
      const { user } = request.query
      if (typeof user !== 'string' || banned.has(user)) throw new Error(`${String(user)} is banned`)
      return { user, checkedAt: Date.now() }
    }
  })
  const eve = clientOf(t, `${url}/?user=eve`)
  const fay = clientOf(t, `${url}/?user=fay`)
  await eve.connect()
  await fay.connect()
  const fayConnection = app.actionheroWs.connections.get(fay.id as string)!
  const firstCheck = (fayConnection.auth as { checkedAt: number }).checkedAt
  banned.add('eve')
  const eveGone = gone(eve)
  assert.equal(await app.actionheroWs.reauthorize(eve.id as string), 1)
  await eveGone
  assert.deepEqual(eve.closures, [{ reason: 'eve is banned', reconnect: false }])
  assert.equal(await app.actionheroWs.reauthorize(fay.id as string), 1)
  assert.equal((fayConnection.auth as { checkedAt: number }).checkedAt >= firstCheck, true, 'a new auth')
  assert.equal(fay.state, 'connected')
  assert.equal(await app.actionheroWs.reauthorize('nobody'), 0)
})

test('reauthorize from another node, by fingerprint: the refused connections close, the others stay', { timeout: 60_000 }, async (t) => {
  if (!await needRedis(t)) return
  const cluster = createCluster(t)
  const [a, b] = await Promise.all([cluster.startNode(), cluster.startNode()])
  const cookie = { transport: { headers: { cookie: 'sessionID=shared-laptop' } } }
  const banned = await TestClient.connect(t, `${b!.url}/?user=mallory`, cookie)
  const allowed = await TestClient.connect(t, `${b!.url}/?user=trent`, cookie)
  await b!.call('ban', { user: 'mallory' })
  const ended = banned.closed()
  assert.equal(await a!.call('reauthorize', { fingerprint: 'shared-laptop' }), 2)
  assert.deepEqual(await banned.next((message) => message.context === 'closed'), { context: 'closed', reason: 'mallory is banned', reconnect: false })
  await ended
  assert.equal((await allowed.request({ event: 'detailsView' })).status, 'OK', 'a marker after the reauthorize: still open')
  assert.equal(allowed.messages.some((message) => message.context === 'closed'), false)
  cluster.assertHealthy()
})
