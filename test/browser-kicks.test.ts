/**
 * Kicks in Chromium (issue 21): a page on node B, kicked from node A over Redis. The generated client
 * fires `closed` with the reason; with `reconnect: false` it stays disconnected, with `reconnect: true`
 * it comes back.
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
})
