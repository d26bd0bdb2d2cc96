/**
 * Kicks and credentials in Chromium (issue 21): a page on node B, kicked from node A over Redis. The
 * generated client fires `closed` with the reason; with `reconnect: false` it stays disconnected, with
 * `reconnect: true` it comes back. Its `refresh` callback keeps a socket open across token rotations.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { ActionheroClient as Client } from '../lib/client/index.js'
import { needRedis, sharedPrefix, SHARED_REDIS } from './cluster-helpers.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp } from './helpers.js'

declare global {
  var gone: Client
  var kept: Client
  /** What each client's `closed` event gave, by client. */
  var closures: Record<string, unknown[]>
}

describe('a kick from another node, in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('reconnect: false stays disconnected and fires closed; reconnect: true comes back', { timeout: 60_000 }, async (t) => {
    if (!await needRedis(t)) return
    const redis = { url: SHARED_REDIS, prefix: sharedPrefix(t) }
    const a = await startApp(t, { redis })
    const b = await startApp(t, { redis, clientJsName: 'actionheroClient' }, {
      setup: (app) => { app.get('/', (_request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const visitor = await openPage(t, browser, b.url)
    const ids = await visitor.page.evaluate(async () => {
      globalThis.closures = { gone: [], kept: [] }
      globalThis.gone = record(new ActionheroClient({ reconnect: { min: 50, max: 200 } }))
      globalThis.kept = new ActionheroClient({ reconnect: { min: 50, max: 200 } })
      gone.on('closed', (closure) => closures.gone!.push(closure))
      kept.on('closed', (closure) => closures.kept!.push(closure))
      await Promise.all([gone.connect(), kept.connect()])
      return { gone: gone.id as string, kept: kept.id as string }
    })
    assert.equal(await a.app.actionheroWs.disconnect(ids.gone, { reason: 'banned by a moderator' }), true)
    assert.equal(await a.app.actionheroWs.disconnect(ids.kept, { reason: 'moved you', reconnect: true }), true)
    // The client told to come back is back: a marker after both kicks.
    await visitor.page.waitForFunction(() => kept.state === 'connected' && kept.id !== null && closures.kept!.length === 1, undefined, { timeout: 20_000 })
    const after = await visitor.page.evaluate(() => ({ events, closures, goneState: gone.state, keptId: kept.id }))
    assert.notEqual(after.keptId, ids.kept, 'a new connection')
    assert.deepEqual(after.closures, { gone: [{ reason: 'banned by a moderator', reconnect: false }], kept: [{ reason: 'moved you', reconnect: true }] })
    assert.equal(after.goneState, 'disconnected')
    assert.deepEqual(after.events.filter((event) => event !== 'welcome'), ['connected', 'disconnected'], 'no reconnection of the kicked page')
    assert.deepEqual([...b.app.actionheroWs.connections.keys()], [after.keptId], 'node B holds the client that came back only')
    assert.deepEqual(visitor.errors, [])
  })

  test('the generated client refreshes credentials that expire and keeps its socket open', { timeout: 30_000 }, async (t) => {
    // Tokens of 1.5 s; the page's refresh callback fetches a new one from the app.
    const tokens = new Map<string, number>()
    const issue = (): string => {
      const token = String(tokens.size + 1)
      tokens.set(token, Date.now() + 1500)
      return token
    }
    const verify = (token: unknown): { token: string, expiresAt: number } => {
      const expiresAt = typeof token === 'string' ? tokens.get(token) : undefined
      if (expiresAt === undefined || expiresAt <= Date.now()) throw new Error('invalid token')
      return { token: token as string, expiresAt }
    }
    const { app, url } = await startApp(t, {
      clientJsName: 'actionheroClient',
      authorize: (request) => verify(request.query.token),
      refresh: (_connection, params) => verify(params.token),
      refreshGrace: 200
    }, {
      setup: (app) => {
        app.get('/', (_request, reply) => reply.type('text/html').send(testPage('actionheroClient.js')))
        app.get('/token', () => ({ token: issue() }))
      }
    })
    const first = issue()
    const visitor = await openPage(t, browser, url)
    // As the page's own script (a string: the test's compiler would add helpers the page lacks to a named callback).
    await visitor.page.evaluate(`(async () => {
      globalThis.closures = { gone: [] }
      globalThis.gone = record(new ActionheroClient({
        url: ${JSON.stringify(`${url}/?token=${first}`)},
        refresh: async () => (await fetch('/token')).json()
      }))
      gone.on('closed', (closure) => closures.gone.push(closure))
      await gone.connect()
    })()`)
    const [connection] = app.actionheroWs.connections.values()
    // Past the first token's expiry and its grace, the socket is still the same one, with a newer token.
    const firstExpiry = connection!.expiresAt as number
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstExpiry + 400 - Date.now())))
    const state = await visitor.page.evaluate(() => ({ state: gone.state, id: gone.id, closures, events }))
    assert.equal(state.state, 'connected')
    assert.equal(state.id, connection!.id)
    assert.deepEqual(state.closures, { gone: [] })
    assert.notEqual((connection!.auth as { token: string }).token, first, 'renewed over the open socket')
    assert.equal(connection!.open, true)
    assert.deepEqual(visitor.errors, [])
  })
})
