/**
 * The example chat app (example/) in headless Chromium: two visitors talking, and a page that comes
 * back by itself after a server restart. `npm run screenshot` also writes the picture of the chat to
 * docs/chat.png (the path in $SCREENSHOT).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { after, before, describe, test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { Browser, Page } from 'playwright-core'
import { buildChatApp } from '../example/app.js'
import { launchChromium, openPage, skipWithoutChromium, type VisitorPage } from './fixtures/client/chromium.js'

const VIEWPORT = { width: 960, height: 480 }

async function startChat (t: TestContext, port = 0): Promise<{ app: FastifyInstance, url: string, port: number }> {
  const app = await buildChatApp()
  t.after(() => app.close())
  await app.listen({ port, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a port')
  return { app, url: `http://127.0.0.1:${address.port}`, port: address.port }
}

async function join (page: Page, name: string): Promise<void> {
  await page.fill('#name', name)
  await page.click('#join-form button')
  await page.locator('#members li', { hasText: `${name} (you)` }).waitFor()
}

async function say (page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.press('#text', 'Enter')
}

const lines = (page: Page, selector: string): Promise<string[]> => page.locator(selector).allTextContents()

describe('the example chat app in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('two visitors join a room, see each other, talk, and roll a die', async (t) => {
    const { url } = await startChat(t)
    const ada = await openPage(t, browser, url, { viewport: VIEWPORT })
    const grace = await openPage(t, browser, url, { viewport: VIEWPORT })
    for (const { page } of [ada, grace]) await page.locator('#state[data-state="connected"]').waitFor()

    await join(ada.page, 'Ada')
    await join(grace.page, 'Grace')
    await ada.page.locator('#messages li', { hasText: 'Grace joined' }).waitFor()
    assert.deepEqual(await lines(ada.page, '#members li'), ['Ada (you)', 'Grace'])
    assert.deepEqual(await lines(grace.page, '#members li'), ['Ada', 'Grace (you)'])

    await say(ada.page, 'Hi Grace! The socket is up.')
    await grace.page.locator('#messages li', { hasText: 'AdaHi Grace! The socket is up.' }).waitFor()
    await say(grace.page, 'Hello Ada, I can see you in defaultRoom.')
    await ada.page.locator('#messages li', { hasText: 'Hello Ada, I can see you in defaultRoom.' }).waitFor()

    await ada.page.click('#roll')
    await ada.page.locator('#last-roll', { hasText: 'Your last roll' }).waitFor()
    const roll = await ada.page.locator('#last-roll').textContent()
    const rolled = /Your last roll: (\d) of 6/.exec(roll ?? '')?.[1]
    assert.ok(rolled !== undefined, `the action's reply is shown: ${roll}`)
    await grace.page.locator('#messages li', { hasText: `Ada rolled a die: ${rolled}` }).waitFor()

    const screenshot = await ada.page.screenshot()
    assert.deepEqual(screenshot.subarray(1, 4).toString(), 'PNG')
    if (process.env.SCREENSHOT !== undefined) await writeFile(process.env.SCREENSHOT, screenshot)
    assert.deepEqual([...ada.errors, ...grace.errors], [])
  })

  test('the page shows its state, and comes back by itself in its room when the server restarts', async (t) => {
    const first = await startChat(t)
    const visitor: VisitorPage = await openPage(t, browser, first.url, { viewport: VIEWPORT })
    const { page } = visitor
    await join(page, 'Ada')
    assert.equal(await page.locator('#state').textContent(), 'connected')

    await first.app.close()
    await page.locator('#state[data-state="reconnecting"]').waitFor()
    await page.locator('#messages li', { hasText: 'Connection lost' }).waitFor()
    const second = await startChat(t, first.port)
    await page.locator('#state[data-state="connected"]').waitFor()
    await page.locator('#messages li', { hasText: 'Reconnected' }).waitFor()

    await page.locator('#members li', { hasText: 'Ada (you)' }).waitFor()
    const members = await second.app.actionheroWs.rooms.view('defaultRoom')
    assert.equal(members.membersCount, 1, 'the page is in its room again, on the new server')
    await say(page, 'Still here')
    await page.locator('#messages li', { hasText: 'Still here' }).waitFor()
    assert.deepEqual(visitor.errors, [])
  })
})
