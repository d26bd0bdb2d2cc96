/**
 * Direct pushes recover, in Chromium (issue 19, item 5): a page offline for 3 s while the server sends
 * its visitor 10 `sendToFingerprint` pushes gets all 10 when it is back, once each, in order, as
 * ordinary `alert` events, without app code, and hears `pushesRecovered` true.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { PushesRecovery, PushMessage } from '../lib/client/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { sleep, startApp, waitFor } from './helpers.js'

declare global {
  /** The `alert` events and `pushesRecovered` events the page's client fired. */
  var alerts: PushMessage[]
  var pushRecoveries: PushesRecovery[]
}

describe('the generated client recovers the pushes of a network flap', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('offline for 3 s while the server pushes 10 to the visitor: all 10 once, in order', { timeout: 90_000 }, async (t) => {
    const { app, url } = await startApp(t, { clientJsName: 'actionheroClient' }, {
      setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const { page, errors } = await openPage(t, browser, url)
    const { id, fingerprint } = await page.evaluate(async () => {
      globalThis.alerts = []
      globalThis.pushRecoveries = []
      globalThis.client = new ActionheroClient()
      client.on('alert', (push) => alerts.push(push))
      client.on('pushesRecovered', (recovery) => pushRecoveries.push(recovery))
      await client.connect()
      return { id: client.id, fingerprint: client.fingerprint }
    })
    assert.equal(typeof fingerprint, 'string', 'the page has the fingerprint cookie the app set')
    const push = (n: number): Promise<number> => app.actionheroWs.sendToFingerprint(String(fingerprint), { context: 'alert', n })
    assert.equal(await push(0), 1)
    await page.waitForFunction(() => alerts.length === 1)

    await page.context().setOffline(true)
    await waitFor(() => !app.actionheroWs.connections.has(String(id)), 10_000)
    const offlineAt = Date.now()
    for (let n = 1; n <= 10; n++) {
      assert.equal(await push(n), 0, 'no connection of the visitor now: kept for it')
      await sleep(100)
    }
    await sleep(Math.max(0, 3000 - (Date.now() - offlineAt)))
    await page.context().setOffline(false)

    await page.waitForFunction(() => client.state === 'connected' && pushRecoveries.length === 1, undefined, { timeout: 30_000 })
    assert.equal(await push(11), 1)
    await page.waitForFunction(() => alerts.some((alert) => alert.n === 11), undefined, { timeout: 10_000 })
    const { heard, recoveries } = await page.evaluate(() => ({ heard: alerts.map((alert) => alert.n), recoveries: pushRecoveries }))
    assert.deepEqual(heard, Array.from({ length: 12 }, (_, n) => n))
    assert.deepEqual(recoveries, [{ recovered: true }])
    assert.deepEqual(errors, [])
  })
})
