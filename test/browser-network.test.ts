/**
 * The generated client in Chromium when the page's network goes away and comes back: Primus ends the
 * socket on the browser's `offline` event and opens it again on `online`; the client must follow it
 * back, into its rooms, firing each lifecycle event once, and leave no socket behind on the server.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp, TestClient, waitFor } from './helpers.js'

describe('the generated client across a network flap', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('offline then online: connected again, in its rooms, each event once, one socket on the server', { timeout: 60_000 }, async (t) => {
    const { app, url } = await startApp(t, { clientJsName: 'actionheroClient' }, {
      setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const { page, errors } = await openPage(t, browser, url)
    const firstId = await page.evaluate(async () => {
      globalThis.client = record(new ActionheroClient())
      await client.connect()
      await client.roomAdd('defaultRoom')
      return client.id
    })
    const other = await TestClient.connect(t, url)
    await other.request({ event: 'roomAdd', room: 'defaultRoom' })
    const otherId = ((await other.request({ event: 'detailsView' })).data as { id: string }).id

    await page.context().setOffline(true)
    await waitFor(() => !app.actionheroWs.connections.has(String(firstId)), 10_000)
    assert.equal(await page.evaluate(() => client.state), 'reconnecting', 'offline is a lost connection, not the end')
    await page.context().setOffline(false)
    await page.waitForFunction(() => client.state === 'connected' && client.id !== null, undefined, { timeout: 20_000 })

    const back = await page.evaluate(() => ({ id: client.id, rooms: client.rooms, events: events.filter((event) => event !== 'welcome') }))
    assert.notEqual(back.id, firstId, 'a new connection')
    assert.deepEqual(back.rooms, ['defaultRoom'])
    // Each lifecycle event once (a run of reconnecting attempts counts as one).
    const lifecycle = back.events.filter((event, index) => event !== 'reconnecting' || back.events[index - 1] !== 'reconnecting')
    assert.deepEqual(lifecycle, ['connected', 'disconnected', 'reconnecting', 'reconnect', 'connected'])
    // The server holds exactly the page's one socket (and the other client's), and it is in the room.
    assert.deepEqual([...app.actionheroWs.connections.keys()].sort(), [back.id, otherId].sort())
    const view = await app.actionheroWs.rooms.view('defaultRoom')
    assert.ok(String(back.id) in view.members)
    // And it hears the room again.
    await other.request({ event: 'say', room: 'defaultRoom', message: 'after the flap' })
    await page.waitForFunction(() => said.some((message) => message.message === 'after the flap'), undefined, { timeout: 10_000 })
    assert.deepEqual(errors, [])
  })

  test('disconnect() while offline: the socket does not come back with the network', { timeout: 60_000 }, async (t) => {
    const { app, url } = await startApp(t, { clientJsName: 'actionheroClient' }, {
      setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const { page } = await openPage(t, browser, url)
    // The client's Primus, recording what its socket does (plain page script: no compiled helpers).
    await page.addScriptTag({
      content: `
        window.socketEvents = []
        window.cameOnline = false
        addEventListener('online', () => { window.cameOnline = true })
        window.RecordedPrimus = function (url, options) {
          const socket = new Primus(url, options)
          for (const event of ['reconnect scheduled', 'open']) socket.on(event, () => window.socketEvents.push(event))
          return socket
        }`
    })
    await page.evaluate(async () => {
      const { RecordedPrimus } = globalThis as unknown as { RecordedPrimus: NonNullable<ConstructorParameters<typeof ActionheroClient>[0]>['Primus'] }
      globalThis.client = record(new ActionheroClient({ Primus: RecordedPrimus }))
      await client.connect()
    })
    await page.context().setOffline(true)
    await waitFor(() => app.actionheroWs.connections.size === 0, 10_000)
    const before = await page.evaluate(() => { client.disconnect(); return (globalThis as unknown as { socketEvents: string[] }).socketEvents.length })
    await page.context().setOffline(false)
    // Our `online` listener runs after Primus's own (added first), which reschedules synchronously.
    await page.waitForFunction(() => (globalThis as unknown as { cameOnline: boolean }).cameOnline)
    const after = await page.evaluate(() => (globalThis as unknown as { socketEvents: string[] }).socketEvents.slice())
    assert.equal(after.length, before, `the disconnected socket stirred: ${JSON.stringify(after.slice(before))}`)
    assert.equal(await page.evaluate(() => client.state), 'disconnected')
    assert.equal(app.actionheroWs.connections.size, 0)
  })
})
