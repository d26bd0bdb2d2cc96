/**
 * The generated client's reconnection in Chromium: the first attempts of many clients that lost
 * their server together are spread (lib/client/backoff.ts), and they keep trying through refused
 * handshakes until a server is back.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { ActionheroClient as Client } from '../lib/client/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { startApp, waitFor } from './helpers.js'

declare global {
  var clients: Client[]
  /** The delay each client announced for its first attempt. */
  var firstDelays: number[]
}

const CLIENTS = 20

describe('the generated client reconnects with jitter, through refusals', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test(`${CLIENTS} clients of a page: first attempts spread, retried through 503s, all back`, { timeout: 90_000 }, async (t) => {
    const page = (app: import('fastify').FastifyInstance): void => {
      app.get('/', (_request, reply) => reply.type('text/html').send(testPage('actionheroClient.js')))
    }
    const first = await startApp(t, { clientJsName: 'actionheroClient', drain: false }, { setup: page })
    const visitor = await openPage(t, browser, first.url)
    await visitor.page.evaluate(async (count) => {
      globalThis.firstDelays = []
      globalThis.clients = Array.from({ length: count }, () => new ActionheroClient({ reconnect: { min: 300, factor: 4, max: 2000 } }))
      for (const client of clients) client.once('reconnecting', ({ delay }) => firstDelays.push(delay))
      await Promise.all(clients.map((client) => client.connect()))
    }, CLIENTS)
    await first.app.close()
    // A node that refuses every handshake for a while, as one that drains does.
    let refused = 0
    const refuser = createServer((_request, response) => response.writeHead(503).end())
    refuser.on('upgrade', (_request, socket) => {
      refused++
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    })
    await new Promise<void>((resolve) => refuser.listen(first.port, '127.0.0.1', resolve))
    await waitFor(() => refused >= 2 * CLIENTS, 30_000)
    await new Promise((resolve) => refuser.close(resolve))
    refuser.closeAllConnections()
    const arrivals: number[] = []
    const second = await startApp(t, { clientJsName: 'actionheroClient' }, {
      port: first.port,
      setup: (app) => {
        page(app)
        app.actionheroWs.addHook('onConnect', () => { arrivals.push(performance.now()) })
      }
    })
    await visitor.page.waitForFunction(() => clients.every((client) => client.state === 'connected'), undefined, { timeout: 30_000 })
    const firstDelays = await visitor.page.evaluate(() => globalThis.firstDelays)
    assert.equal(firstDelays.length, CLIENTS)
    assert.ok(firstDelays.every((delay) => delay >= 300 && delay <= 1200), `first delays ${firstDelays.join(', ')}`)
    assert.ok(Math.max(...firstDelays) - Math.min(...firstDelays) >= 300, `first delays ${firstDelays.join(', ')} are spread`)
    assert.equal(second.app.actionheroWs.connections.size, CLIENTS, 'every client is back')
    assert.equal(arrivals.length, CLIENTS)
    assert.deepEqual(visitor.errors, [])
  })
})
