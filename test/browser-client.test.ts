/**
 * The generated client in headless Chromium, loaded from the running app as a page would load it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import type { Browser } from 'playwright-core'
import { defineAction, type ActionheroWsOptions } from '../lib/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp, waitFor, type RunningApp } from './helpers.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } as const,
  run: ({ a, b }) => ({ sum: a + b })
})

async function publicFolder (t: TestContext): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-browser-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  return folder
}

/** The app, writing its client into `publicDir`; it serves the test page at `/` (`/?min` loads the minified file). */
function startClientApp (t: TestContext, publicDir: string, options: ActionheroWsOptions = {}, port = 0): Promise<RunningApp> {
  return startApp(t, { clientJsName: 'actionheroClient', publicDir, actions: [add], ...options }, {
    port,
    setup: (app) => {
      app.get('/', (request, reply) => {
        const minified = 'min' in (request.query as Record<string, string>)
        return reply.type('text/html').send(testPage(minified ? 'actionheroClient.min.js' : 'actionheroClient.js'))
      })
    }
  })
}

/** The lifecycle events among `events`, a run of the same one (a retry) counted once. */
function lifecycle (events: string[]): string[] {
  const relevant = events.filter((event) => ['connected', 'disconnected', 'reconnecting', 'reconnect'].includes(event))
  return relevant.filter((event, index) => event !== relevant[index - 1])
}

describe('the generated client in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  for (const file of ['actionheroClient.js', 'actionheroClient.min.js']) {
    test(`${file} gives the page Primus and ActionheroClient; actions answer a callback and a Promise`, async (t) => {
      const { url } = await startClientApp(t, await publicFolder(t))
      const { page, errors } = await openPage(t, browser, file.endsWith('.min.js') ? `${url}/?min` : url)
      const result = await page.evaluate(async () => {
        globalThis.client = new ActionheroClient()
        const details = await client.connect()
        const withCallback = await new Promise((resolve) => client.action('add', { a: 1, b: 2 }, resolve))
        const withPromise = await client.action<{ sum: number }>('add', { a: 2, b: 3 })
        const missing = await client.action('add', { a: 1 })
        return {
          primus: typeof (globalThis as { Primus?: unknown }).Primus,
          url: client.options.url,
          state: client.state,
          connected: details.status,
          withCallback,
          withPromise,
          missing: missing.error
        }
      })
      assert.equal(result.primus, 'function')
      assert.equal(result.url, url, 'clientUrl window.location.origin is the page origin')
      assert.equal(result.state, 'connected')
      assert.equal(result.connected, 'OK')
      // Requests 1 and 2 were the connection's own: pushesSince and detailsView.
      assert.deepEqual(result.withCallback, { sum: 3, context: 'response', messageCount: 3, messageId: 3 })
      assert.equal(result.withPromise.sum, 5)
      assert.equal(result.missing, 'b is a required parameter for this action')
      assert.deepEqual(errors, [])
    })
  }

  for (const secret of [undefined, 'a-secret-of-the-app-32-characters-at-least']) {
    test(`detailsView, client.details, and the fingerprint cookie of the page load as client.fingerprint${secret === undefined ? '' : ' (signed)'}`, async (t) => {
      const { app, url } = await startClientApp(t, await publicFolder(t), secret === undefined ? {} : { fingerprint: { secret } })
      const { page, errors } = await openPage(t, browser, url)
      const result = await page.evaluate(async () => {
        globalThis.client = new ActionheroClient()
        await client.connect()
        const viaCallback = await new Promise<{ failed: boolean, id: string | undefined }>((resolve) =>
          client.detailsView((error, response) => resolve({ failed: error !== null, id: response.data?.id })))
        const viaPromise = await client.detailsView()
        return { viaCallback, viaPromise: viaPromise.data, details: client.details, id: client.id, fingerprint: client.fingerprint }
      })
      const cookie = (await page.context().cookies(url)).find((candidate) => candidate.name === 'sessionID')
      assert.ok(cookie !== undefined && cookie.value.length >= 32, 'the page load set the fingerprint cookie')
      // Signed, the cookie is `<id>.<signature>` and the fingerprint is its id.
      const fingerprint = secret === undefined ? cookie.value : /^([0-9a-f]{32})\.[\w-]{43}$/.exec(cookie.value)?.[1]
      assert.ok(fingerprint !== undefined, `a signed cookie: ${cookie.value}`)
      assert.equal(result.fingerprint, fingerprint)
      assert.equal(app.actionheroWs.connections.get(result.id ?? '')?.fingerprint, fingerprint)
      assert.deepEqual(result.viaCallback, { failed: false, id: result.id })
      assert.equal(result.details?.id, result.id)
      assert.equal(result.details?.remoteIP, '127.0.0.1')
      assert.deepEqual(result.details?.rooms, [])
      assert.equal(result.viaPromise?.fingerprint, fingerprint)
      assert.deepEqual(errors, [])
    })
  }

  test('file: text as text, an image as base64, nothing outside the public folder', async (t) => {
    const publicDir = await publicFolder(t)
    const pixel = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')
    await writeFile(join(publicDir, 'hello.txt'), 'Grüße 👋\n')
    await writeFile(join(publicDir, 'pixel.png'), pixel)
    const { url } = await startClientApp(t, publicDir)
    const { page, errors } = await openPage(t, browser, url)
    const [text, image, outside] = await page.evaluate(async () => {
      globalThis.client = new ActionheroClient()
      await client.connect()
      return Promise.all([client.file('hello.txt'), client.file('/pixel.png'), client.file('../../etc/passwd')])
    })
    assert.equal(text.error, null)
    assert.equal(text.content, 'Grüße 👋\n')
    assert.equal(text.mime, 'text/plain')
    assert.equal(text.length, Buffer.byteLength('Grüße 👋\n'))
    assert.equal(typeof text.lastModified, 'number')
    assert.equal(image.encoding, 'base64')
    assert.equal(image.mime, 'image/png')
    assert.deepEqual(Buffer.from(image.content ?? '', 'base64'), pixel)
    assert.deepEqual({ error: outside.error, content: outside.content }, { error: 'That file is not found', content: null })
    assert.deepEqual(errors, [])
  })

  test('two pages chat in a room', async (t) => {
    const { url } = await startClientApp(t, await publicFolder(t))
    const [ada, grace] = [await openPage(t, browser, url), await openPage(t, browser, url)]
    const join = async (): Promise<string | null> => {
      globalThis.client = record(new ActionheroClient())
      await client.connect()
      await client.roomAdd('defaultRoom')
      return client.id
    }
    const adaId = await ada.page.evaluate(join)
    const graceId = await grace.page.evaluate(join)

    const view = await ada.page.evaluate(async () => (await client.roomView('defaultRoom')).data)
    assert.equal(view?.membersCount, 2)
    assert.deepEqual(Object.keys(view?.members ?? {}).sort(), [adaId, graceId].sort())

    const reply = await ada.page.evaluate(() => client.say('defaultRoom', 'Hello Grace!'))
    assert.equal(reply.status, 'OK')
    await grace.page.waitForFunction(() => said.length === 1)
    const heard = await grace.page.evaluate(() => said[0])
    assert.deepEqual({ room: heard?.room, from: heard?.from, message: heard?.message }, { room: 'defaultRoom', from: adaId, message: 'Hello Grace!' })

    await grace.page.evaluate(() => client.say('defaultRoom', { text: 'Hi Ada', mood: 'happy' }))
    await ada.page.waitForFunction(() => said.length === 1)
    assert.deepEqual(await ada.page.evaluate(() => said[0]?.message), { text: 'Hi Ada', mood: 'happy' })
    assert.deepEqual(await grace.page.evaluate(() => said.length), 1, 'a sender does not hear itself')
    assert.deepEqual([...ada.errors, ...grace.errors], [])
  })

  test('across a server restart: disconnected, reconnecting, reconnect, connected; rooms joined again, a new id', async (t) => {
    const publicDir = await publicFolder(t)
    const first = await startClientApp(t, publicDir)
    const { page, errors } = await openPage(t, browser, first.url)
    const before = await page.evaluate(async () => {
      globalThis.client = record(new ActionheroClient({ reconnect: { min: 100, max: 400, retries: 50 } }))
      await client.connect()
      await client.roomAdd('anotherRoom')
      events.length = 0
      return client.id
    })

    await first.app.close()
    await page.waitForFunction(() => client.state === 'reconnecting')
    const second = await startClientApp(t, publicDir, {}, first.port)
    await page.waitForFunction(() => events.includes('connected'))

    const after = await page.evaluate(() => ({ events, id: client.id, rooms: client.rooms, state: client.state, details: client.details }))
    assert.deepEqual(lifecycle(after.events), ['disconnected', 'reconnecting', 'reconnect', 'connected'])
    assert.equal(after.state, 'connected')
    assert.notEqual(after.id, before)
    assert.equal(after.details?.id, after.id)
    assert.deepEqual(after.rooms, ['anotherRoom'])
    assert.deepEqual(second.app.actionheroWs.connections.get(after.id ?? '')?.rooms, ['anotherRoom'])
    assert.deepEqual(errors, [])
  })

  test('ActionHero\'s way: the deprecated global actionheroClient, a Primus socket of the page\'s, own listeners per client', async (t) => {
    const { app, url } = await startClientApp(t, await publicFolder(t))
    const { page, errors } = await openPage(t, browser, url)
    const result = await page.evaluate(async () => {
      const page = globalThis as unknown as { actionheroClient: unknown, Primus: new (url: string) => never }
      const socket = new page.Primus(ActionheroClient.defaults.url ?? '')
      globalThis.client = new ActionheroClient({}, socket)
      const other = new ActionheroClient()
      const heard: string[] = []
      client.addListener('alert', () => heard.push('client'))
      other.on('alert', () => heard.push('other'))
      const details = await client.connect()
      client.emit('alert', { context: 'alert' })
      return {
        alias: page.actionheroClient === ActionheroClient,
        id: details.data?.id,
        sum: (await client.action<{ sum: number }>('add', { a: 2, b: 2 })).sum,
        welcome: client.welcomeMessage,
        eventNames: client.eventNames(),
        heard
      }
    })
    assert.equal(result.alias, true)
    assert.equal(app.actionheroWs.connections.size, 1, 'the page\'s socket is the only one')
    assert.ok(app.actionheroWs.connections.has(result.id ?? ''))
    assert.equal(result.sum, 4)
    assert.equal(result.welcome, 'Hello! Welcome to the actionhero api')
    assert.deepEqual(result.eventNames, ['alert'])
    assert.deepEqual(result.heard, ['client'])
    assert.deepEqual(errors, [])
  })

  test('disconnect() closes at once and does not reconnect; actions then go over HTTP', async (t) => {
    const { app, url } = await startClientApp(t, await publicFolder(t))
    const { page, errors } = await openPage(t, browser, url)
    await page.evaluate(async () => {
      globalThis.client = record(new ActionheroClient({ reconnect: { min: 10, max: 20 } }))
      await client.connect()
    })
    const closed = await page.evaluate(() => {
      client.disconnect()
      return { state: client.state, events: [...events] }
    })
    assert.equal(closed.state, 'disconnected')
    assert.deepEqual(lifecycle(closed.events), ['connected', 'disconnected'])
    await waitFor(() => app.actionheroWs.connections.size === 0)

    // Another client's whole round trip leaves a reconnect, were there one, the time to happen.
    const overHttp = await page.evaluate(async () => {
      const other = new ActionheroClient()
      await other.connect()
      await other.action('add', { a: 1, b: 1 })
      other.disconnect()
      return client.action('add', { a: 2, b: 2 })
    })
    assert.deepEqual(overHttp, { sum: 4, context: 'response' })
    const later = await page.evaluate(() => ({ state: client.state, events: [...events] }))
    assert.equal(later.state, 'disconnected')
    assert.deepEqual(lifecycle(later.events), ['connected', 'disconnected'])
    assert.deepEqual(errors, [])
  })
})
