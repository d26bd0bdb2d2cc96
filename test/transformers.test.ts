/**
 * Every transformer Primus 8 supports, end to end in Chromium with the generated client: actions,
 * rooms, say, file, the fingerprint, and a server restart with reconnect and rejoin; or, for the one
 * that cannot work, refused at register with the reason.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import type { Browser } from 'playwright-core'
import { ActionheroClient as NodeClient } from '../lib/client/node.js'
import actionheroWs, { defineAction, type ActionheroWsOptions } from '../lib/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp, waitFor, type RunningApp } from './helpers.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } as const,
  run: ({ a, b }) => ({ sum: a + b })
})

/** The transformers that work, with what a page does to use only what the transformer must work with. */
const TRANSFORMERS: Array<{ transformer: string, name: string, server?: ActionheroWsOptions['server'], noWebSocket?: boolean }> = [
  { transformer: 'websockets', name: 'websockets' },
  { transformer: 'engine.io', name: 'engine.io' },
  { transformer: 'engine.io', name: 'engine.io, long-polling only (the page has no WebSocket)', noWebSocket: true },
  { transformer: 'sockjs', name: 'sockjs' },
  { transformer: 'faye', name: 'faye' },
  { transformer: 'browserchannel', name: 'browserchannel' }
]

/** Long, so that a shutdown that waits for it is told apart from one that does not, even on a busy machine. */
const SHUTDOWN_TIMEOUT = 10_000

function startTransformerApp (t: TestContext, publicDir: string, transformer: string, port = 0): Promise<RunningApp> {
  return startApp(t, { clientJsName: 'actionheroClient', publicDir, actions: [add], server: { transformer }, shutdownTimeout: SHUTDOWN_TIMEOUT }, {
    port,
    setup: (app) => { app.get('/', (request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
  })
}

describe('transformers in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  for (const { transformer, name, noWebSocket = false } of TRANSFORMERS) {
    test(`${name}: actions, rooms, say, file, fingerprint, and a restart with reconnect and rejoin`, { timeout: 60_000 }, async (t) => {
      const publicDir = await mkdtemp(join(tmpdir(), 'ahws-transformer-'))
      t.after(() => rm(publicDir, { recursive: true, force: true }))
      await writeFile(join(publicDir, 'hello.txt'), 'hello\n')
      const first = await startTransformerApp(t, publicDir, transformer)
      const [ada, grace] = [await openPage(t, browser, first.url), await openPage(t, browser, first.url)]
      if (noWebSocket) {
        for (const { page } of [ada, grace]) {
          await page.addInitScript(() => { delete (globalThis as { WebSocket?: unknown }).WebSocket })
          await page.reload()
        }
      }
      const enter = async (): Promise<{ id: string | null, sum: number | undefined, fingerprint: string | null, file: string | null, webSocket: boolean }> => {
        globalThis.client = record(new ActionheroClient({ reconnect: { min: 100, max: 400, retries: 50 } }))
        await client.connect()
        await client.roomAdd('defaultRoom')
        const { sum } = await client.action<{ sum: number }>('add', { a: 1, b: 2 })
        const { content } = await client.file('hello.txt')
        return { id: client.id, sum, fingerprint: client.fingerprint, file: content, webSocket: 'WebSocket' in globalThis }
      }
      const adaJoined = await ada.page.evaluate(enter)
      const graceJoined = await grace.page.evaluate(enter)
      assert.equal(adaJoined.webSocket, !noWebSocket)
      for (const [{ page }, joined] of [[ada, adaJoined], [grace, graceJoined]] as const) {
        assert.equal(joined.sum, 3)
        assert.equal(joined.file, 'hello\n')
        const cookie = (await page.context().cookies(first.url)).find((candidate) => candidate.name === 'sessionID')
        assert.ok(cookie !== undefined)
        assert.equal(joined.fingerprint, cookie.value, 'the handshake carried the page\'s cookie')
        assert.equal(first.app.actionheroWs.connections.get(joined.id ?? '')?.fingerprint, cookie.value)
      }
      assert.equal((await first.app.actionheroWs.rooms.view('defaultRoom')).membersCount, 2)
      if (noWebSocket) {
        const transports = new Set<unknown>()
        first.app.actionheroWs.primus.forEach((spark) => transports.add((spark.socket as { transport?: { name?: string } } | null)?.transport?.name))
        assert.deepEqual([...transports], ['polling'], 'engine.io carries both pages by long-polling')
      }

      await ada.page.evaluate(() => client.say('defaultRoom', 'hello Grace'))
      await grace.page.waitForFunction(() => said.length === 1)
      assert.deepEqual(await grace.page.evaluate(() => ({ from: said[0]?.from, message: said[0]?.message })), { from: adaJoined.id, message: 'hello Grace' })
      await grace.page.evaluate(() => client.say('defaultRoom', 'hello Ada'))
      await ada.page.waitForFunction(() => said.length === 1)

      // A restart on the same port: both pages reconnect, join their room again, and chat on.
      const closing = Date.now()
      await first.app.close()
      // A long-polling handshake's HTTP socket is not the connection's: shutdown does not wait on it.
      assert.ok(Date.now() - closing < SHUTDOWN_TIMEOUT / 2, `closed in ${Date.now() - closing} ms, not after shutdownTimeout`)
      await ada.page.waitForFunction(() => client.state === 'reconnecting')
      const second = await startTransformerApp(t, publicDir, transformer, first.port)
      for (const { page } of [ada, grace]) await page.waitForFunction(() => events.includes('reconnect') && client.state === 'connected', undefined, { timeout: 30_000 })
      await waitFor(async () => (await second.app.actionheroWs.rooms.view('defaultRoom')).membersCount === 2, 10_000)
      await grace.page.evaluate(() => client.say('defaultRoom', 'still here'))
      await ada.page.waitForFunction(() => said.some((message) => message.message === 'still here'))
      assert.deepEqual(await ada.page.evaluate(() => client.rooms), ['defaultRoom'])
      assert.deepEqual([...ada.errors, ...grace.errors], [])
    })
  }
})

test('the Node.js client speaks every transformer through the server\'s primus.Socket', { timeout: 60_000 }, async (t) => {
  for (const { transformer } of TRANSFORMERS.filter(({ noWebSocket }) => noWebSocket !== true)) {
    const { app, url } = await startApp(t, { actions: [add], server: { transformer } })
    const client = new NodeClient({ url, Primus: app.actionheroWs.primus.Socket })
    t.after(() => client.disconnect())
    const details = await client.connect()
    assert.ok(app.actionheroWs.connections.has(details.data?.id ?? ''), transformer)
    assert.equal((await client.action<{ sum: number }>('add', { a: 2, b: 3 })).sum, 5, transformer)
    assert.equal((await client.roomAdd('defaultRoom')).data, true, transformer)
    client.disconnect()
  }
})

test('uws, and a name Primus does not know, are refused at register with the reason', { timeout: 30_000 }, async () => {
  const refusals: Array<[string, RegExp]> = [
    ['uws', /^"server\.transformer" option uws is not supported: its authors replaced the uws package with an empty one/],
    ['socket.io', /^"server\.transformer" option must be one of "websockets", "engine\.io", "sockjs", "faye", "browserchannel"; got "socket\.io"$/]
  ]
  for (const [transformer, message] of refusals) {
    const app = Fastify({ logger: false })
    await assert.rejects(async () => {
      await app.register(actionheroWs, { clientJsName: null, server: { transformer } })
      await app.ready()
    }, (error: Error & { code?: string }) => error.code === 'FST_AHWS_INVALID_OPTION' && message.test(error.message))
    await app.close()
  }
})
