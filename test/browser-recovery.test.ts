/**
 * Issue 12 in Chromium: a page that goes offline for 3 s while another page says 20 messages gets
 * all 20 when it is back, once each, in order, as ordinary `say` events, and hears `recovered` true.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { RoomRecovery } from '../lib/client/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { sleep, startApp, waitFor } from './helpers.js'

declare global {
  /** The `recovered` events the page's client fired. */
  var recoveries: RoomRecovery[]
}

describe('the generated client recovers the messages of a network flap', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('offline for 3 s while another page says 20 messages: all 20 once, in order, and recovered true', { timeout: 90_000 }, async (t) => {
    const { app, url } = await startApp(t, { clientJsName: 'actionheroClient' }, {
      setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const listener = await openPage(t, browser, url)
    const speaker = await openPage(t, browser, url)
    const listenerId = await listener.page.evaluate(async () => {
      globalThis.recoveries = []
      globalThis.client = record(new ActionheroClient())
      client.on('recovered', (recovery) => recoveries.push(recovery))
      await client.connect()
      await client.roomAdd('defaultRoom')
      return client.id
    })
    await speaker.page.evaluate(async () => {
      globalThis.client = new ActionheroClient()
      await client.connect()
      await client.roomAdd('defaultRoom')
      await client.say('defaultRoom', 'before')
    })
    await listener.page.waitForFunction(() => said.length === 1)

    await listener.page.context().setOffline(true)
    await waitFor(() => !app.actionheroWs.connections.has(String(listenerId)), 10_000)
    const offlineAt = Date.now()
    for (let i = 1; i <= 20; i++) {
      await speaker.page.evaluate(async (n) => { await client.say('defaultRoom', `missed ${n}`) }, i)
      await sleep(100)
    }
    await sleep(Math.max(0, 3000 - (Date.now() - offlineAt)))
    await listener.page.context().setOffline(false)

    await listener.page.waitForFunction(() => client.state === 'connected' && recoveries.length === 1, undefined, { timeout: 30_000 })
    await speaker.page.evaluate(async () => { await client.say('defaultRoom', 'after') })
    await listener.page.waitForFunction(() => said.some((message) => message.message === 'after'), undefined, { timeout: 10_000 })
    const { heard, recovered } = await listener.page.evaluate(() => ({ heard: said.map((message) => message.message), recovered: recoveries }))
    assert.deepEqual(heard, ['before', ...Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`), 'after'])
    assert.deepEqual(recovered, [{ room: 'defaultRoom', recovered: true }])
    assert.deepEqual(listener.errors, [])
    assert.deepEqual(speaker.errors, [])
  })
})
