/**
 * Presence in Chromium (issue 22): two pages of one visitor and one of another show a list of two
 * people; closing one of the visitor's tabs changes nothing (proven by a marker's join and leave heard
 * next); closing the other sends one leave.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp, waitFor } from './helpers.js'
import { fingerprintKey } from '../lib/rooms/presence.js'
import { visitor } from './presence-helpers.js'

declare global {
  /** The presence changes the page's client heard: `event key`, or `list` for a list from a reply. */
  var presenceHeard: string[]
}

const ROOM = 'defaultRoom'

/** Connects the page's client and joins ROOM; answers its presence key (a hash of its fingerprint). */
async function joinFrom (page: Page): Promise<string> {
  const fingerprint = await joined(page)
  assert.equal(typeof fingerprint, 'string', 'the page has the fingerprint cookie the app set')
  return fingerprintKey(String(fingerprint))
}

function joined (page: Page): Promise<string | null> {
  return page.evaluate(async (room) => {
    globalThis.presenceHeard = []
    globalThis.client = new ActionheroClient()
    client.on('presence', (change) => presenceHeard.push(change.event === 'list' ? 'list' : `${change.event} ${change.key}`))
    await client.connect()
    await client.roomAdd(room)
    return client.fingerprint
  }, ROOM)
}

const keysIn = (page: Page): Promise<string[]> => page.evaluate((room) => Object.keys(client.presence(room) ?? {}).sort(), ROOM)

describe('presence in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('two tabs of one visitor and one of another: two people; one tab closing changes nothing, the last one leaves once', { timeout: 90_000 }, async (t) => {
    const { app, url } = await startApp(t, { clientJsName: 'actionheroClient', presence: true }, {
      setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    const { page: aliceTab1, errors } = await openPage(t, browser, url)
    const aliceTab2 = await aliceTab1.context().newPage()
    await aliceTab2.goto(url)
    const { page: bob } = await openPage(t, browser, url)
    const alice = await joinFrom(aliceTab1)
    assert.equal(await joinFrom(aliceTab2), alice, 'the two tabs are one visitor')
    const bobKey = await joinFrom(bob)
    assert.notEqual(bobKey, alice)
    const people = [alice, bobKey].sort()
    for (const page of [aliceTab1, aliceTab2, bob]) await waitFor(async () => JSON.stringify(await keysIn(page)) === JSON.stringify(people))
    assert.equal(await bob.evaluate(({ room, key }) => client.presence(room)?.[String(key)]?.length, { room: ROOM, key: alice }), 2, 'alice once, with her two tabs (in the list bob joined with)')

    const connections = app.actionheroWs.connections.size
    await aliceTab2.close()
    await waitFor(() => app.actionheroWs.connections.size === connections - 1)
    // A marker after the tab closed: bob hears its join and leave next, and nothing before them.
    const marker = await visitor(t, url, 'marker')
    const markerKey = fingerprintKey('marker')
    await marker.roomAdd(ROOM)
    await marker.roomLeave(ROOM)
    await bob.waitForFunction((key) => presenceHeard.at(-1) === `leave ${key}`, markerKey)
    assert.deepEqual(await bob.evaluate(() => presenceHeard), ['list', `join ${markerKey}`, `leave ${markerKey}`])
    assert.deepEqual(await keysIn(bob), people)

    await aliceTab1.close()
    await bob.waitForFunction((key) => presenceHeard.at(-1) === `leave ${String(key)}`, alice)
    assert.deepEqual(await bob.evaluate(() => presenceHeard), ['list', `join ${markerKey}`, `leave ${markerKey}`, `leave ${alice}`], 'one leave')
    assert.deepEqual(await keysIn(bob), [bobKey])
    assert.deepEqual(errors, [])
  })
})
