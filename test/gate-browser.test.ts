/**
 * The gate in Chromium. A page on a sibling subdomain (evil.example.test next to app.example.test: the
 * same site, so the visitor's SameSite=Lax cookie goes along) loads the socket's JSONP long-polling
 * with `<script>` tags, which carry no Origin: it must not get a connection with the visitor's
 * fingerprint, nor read the visitor's pushes, while the visitor's own page, on long-polling too, still
 * works. And the client's HTTP fallback carries the cookie, same-origin and from an allowed origin.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test, type TestContext } from 'node:test'
import type { FastifyServerOptions } from 'fastify'
import type { Browser, Page } from 'playwright-core'
import { defineAction } from '../lib/index.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { testPage } from './fixtures/client/page.js'
import { selfSignedCertificate, type Certificate } from './fixtures/tls.js'
import { startApp, waitFor, type RunningApp } from './helpers.js'

const SIBLINGS = '--host-resolver-rules=MAP *.example.test 127.0.0.1'

/** The attacker's page: polls the socket through JSONP, as only a `<script>` can from another origin. */
function attackerPage (transformer: 'engine.io' | 'sockjs', socket: string): string {
  const steal = transformer === 'engine.io'
    ? `
      const base = ${JSON.stringify(`${socket}/?EIO=4&transport=polling&j=0`)}
      let sid = null
      window.___eio = [(data) => {
        const open = /^0(\\{.*\\})$/.exec(data)
        if (open !== null) sid = JSON.parse(open[1]).sid
        else window.stolen.push(data)
      }]
      if (!await load(base + '&t=' + Date.now())) return
      window.handshakes++
      while (window.polling) await load(base + '&sid=' + sid + '&t=' + Date.now())`
    : `
      const session = Math.random().toString(36).slice(2)
      window.cb = (data) => { if (data === 'o') window.handshakes++; else window.stolen.push(data) }
      while (window.polling) {
        if (!await load(${JSON.stringify(socket)} + '/000/' + session + '/jsonp?c=cb&t=' + Date.now())) return
      }`
  return `<!doctype html>
<meta charset="utf-8">
<title>a sibling subdomain</title>
<script>
  window.stolen = []
  window.failures = 0
  window.settled = 0
  window.handshakes = 0
  window.polling = true
  function load (src) {
    return new Promise((resolve) => {
      const script = document.createElement('script')
      script.src = src
      script.onload = () => { script.remove(); window.settled++; resolve(true) }
      script.onerror = () => { script.remove(); window.settled++; window.failures++; resolve(false) }
      document.head.appendChild(script)
    })
  }
  window.steal = async () => {${steal}
  }
</script>`
}

async function startSite (t: TestContext, transformer: 'engine.io' | 'sockjs', certificate: Certificate | null): Promise<RunningApp> {
  const scheme = certificate === null ? 'http' : 'https'
  return await startApp(t, { clientJsName: 'actionheroClient', server: { transformer } }, {
    fastify: (certificate === null ? {} : { https: certificate }) as FastifyServerOptions,
    setup: (app) => {
      app.get('/', (_request, reply) => reply.type('text/html').send(testPage('actionheroClient.js')))
      app.get('/evil', (request, reply) => reply.type('text/html').send(attackerPage(transformer, `${scheme}://app.example.test:${request.port ?? ''}/primus`)))
    }
  })
}

/** The visitor's page, on long-polling only (no WebSocket), connected; resolves its fingerprint. */
async function visitorConnects (page: Page): Promise<string> {
  await page.addInitScript(() => { delete (globalThis as { WebSocket?: unknown }).WebSocket })
  await page.reload()
  const fingerprint = await page.evaluate(async () => {
    const pushes: unknown[] = []
    ;(globalThis as unknown as { pushes: unknown[] }).pushes = pushes
    globalThis.client = new ActionheroClient({})
    client.on('api', (message) => pushes.push(message))
    await client.connect()
    return client.fingerprint
  })
  assert.ok(typeof fingerprint === 'string' && fingerprint.length > 0)
  return fingerprint
}

/** A long-polling handshake a `<script>` can start but not read: it would open a connection as the visitor. */
const BLIND_HANDSHAKE = { 'engine.io': '/?EIO=4&transport=polling', sockjs: '/000/blind/eventsource' }

describe('JSONP long-polling from a sibling subdomain, in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  let certificate: Certificate | null
  before(async () => {
    browser = await launchChromium([SIBLINGS])
    certificate = await selfSignedCertificate()
  })
  after(() => browser?.close())

  for (const scheme of ['http', 'https'] as const) {
    for (const transformer of ['engine.io', 'sockjs'] as const) {
      test(`${transformer} over ${scheme}: the sibling page cannot read the logged-in visitor's pushes; the visitor's own page still gets them`, { timeout: 60_000 }, async (t) => {
        if (scheme === 'https' && certificate === null) {
          if (process.env.CI !== undefined) throw new Error('openssl is missing: it makes the certificate of the HTTPS site')
          return t.skip('openssl is missing: the HTTPS case is skipped')
        }
        const { app, port } = await startSite(t, transformer, scheme === 'https' ? certificate : null)
        const opened: Array<string | null> = []
        app.actionheroWs.addHook('onConnect', (connection) => { opened.push(connection.fingerprint) })
        const site = `${scheme}://app.example.test:${port}`
        const { page: visitor } = await openPage(t, browser, `${site}/`, { ignoreHTTPSErrors: true })
        const fingerprint = await visitorConnects(visitor)
        const visitorsConnections = (): number => [...app.actionheroWs.connections.values()].filter((connection) => connection.fingerprint === fingerprint).length
        assert.equal(visitorsConnections(), 1)

        // The same visitor (the same cookie jar) opens the sibling's page.
        const evil = await visitor.context().newPage()
        t.after(() => evil.close())
        await evil.goto(`${scheme}://evil.example.test:${port}/evil`)
        const attacker = (): Promise<{ failures: number, handshakes: number, stolen: string[] }> =>
          evil.evaluate(() => {
            const { failures, handshakes, stolen } = globalThis as unknown as { failures: number, handshakes: number, stolen: string[] }
            return { failures, handshakes, stolen }
          })
        // Started, not awaited: it polls until the test tells it to stop.
        await evil.evaluate(() => { (globalThis as unknown as { steal: () => Promise<void> }).steal().catch(() => {}) })
        // Either the gate refused the script, or it got a session as the visitor.
        await waitFor(async () => { const { failures, handshakes } = await attacker(); return failures > 0 || handshakes > 0 }, 10_000)
        if (scheme === 'https') {
          // Over HTTPS, Sec-Fetch-Site tells the gate that even a script it cannot read comes from another site.
          const settledBefore = await evil.evaluate((src) => {
            const page = globalThis as unknown as { load: (src: string) => Promise<boolean>, settled: number }
            page.load(src).catch(() => {})
            return page.settled
          }, `${site}/primus${BLIND_HANDSHAKE[transformer]}`)
          await waitFor(async () => await evil.evaluate(() => (globalThis as unknown as { settled: number }).settled) > settledBefore, 10_000)
        }

        await app.actionheroWs.sendToFingerprint(fingerprint, { context: 'private', secret: 'for the visitor only' })
        await app.actionheroWs.sendToFingerprint(fingerprint, { context: 'private', marker: 'sent after the secret' })
        await waitFor(() => visitor.evaluate(() => (globalThis as unknown as { pushes: Array<{ marker?: string }> }).pushes.some((push) => push.marker !== undefined)), 10_000)
        // The sibling polls as long as it has a session: had it one, the marker would be in its hands too.
        const { failures, handshakes, stolen } = await attacker()
        await evil.evaluate(() => { (globalThis as unknown as { polling: boolean }).polling = false })
        assert.deepEqual({ handshakes, stolen }, { handshakes: 0, stolen: [] })
        assert.ok(failures > 0, 'the sibling\'s script was refused')
        assert.equal(visitorsConnections(), 1)
        assert.deepEqual(opened.filter((opener) => opener === fingerprint), [fingerprint], 'no connection was ever opened with the visitor\'s fingerprint but the visitor\'s own')
        const pushes = await visitor.evaluate(() => (globalThis as unknown as { pushes: Array<Record<string, unknown>> }).pushes)
        // Each carries its place in the visitor's push stream (history on: sendToFingerprint keeps them).
        assert.deepEqual(pushes.map(({ pushOffset }) => pushOffset), [1, 2])
        assert.deepEqual(pushes.map(({ pushOffset, pushEpoch, ...push }) => push),
          [{ context: 'private', secret: 'for the visitor only' }, { context: 'private', marker: 'sent after the secret' }])
      })
    }
  }
})

describe('the client\'s HTTP fallback in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium([SIBLINGS]) })
  after(() => browser?.close())

  test('it POSTs JSON with the visitor\'s cookie from the app\'s own page and from an allowed origin; a refused origin gets nothing run', { timeout: 60_000 }, async (t) => {
    // Another site's pages, on www.example.test (allowed) and evil.example.test (not), loading the app's client.
    let appUrl = ''
    const other = await startApp(t, { enabled: false }, {
      setup: (site) => { site.get('/', (_request, reply) => reply.type('text/html').send(`<!doctype html><script src="${appUrl}/public/javascript/actionheroClient.js"></script>`)) }
    })
    const fingerprints: Array<string | null> = []
    const whoami = defineAction({
      name: 'whoami',
      inputs: { type: 'object', properties: { from: { type: 'string' } } } as const,
      run: ({ from }, connection) => {
        fingerprints.push(connection.fingerprint)
        return { type: connection.type, from }
      }
    })
    const { port } = await startApp(t, { clientJsName: 'actionheroClient', actions: [whoami], allowedOrigins: [`http://www.example.test:${other.port}`] }, {
      setup: (app) => { app.get('/', (_request, reply) => reply.type('text/html').send(testPage('actionheroClient.js'))) }
    })
    appUrl = `http://app.example.test:${port}`
    const { page } = await openPage(t, browser, `${appUrl}/`)
    const cookie = (await page.context().cookies(appUrl)).find((candidate) => candidate.name === 'sessionID')?.value
    assert.ok(cookie !== undefined)
    const own = await page.evaluate(async () => await new ActionheroClient({}).action('whoami', { from: 'own page' }))
    assert.deepEqual(own, { type: 'web', from: 'own page', context: 'response' })

    const allowed = await page.context().newPage()
    t.after(() => allowed.close())
    await allowed.goto(`http://www.example.test:${other.port}/`)
    const fromAllowed = await allowed.evaluate(async (url) => await new ActionheroClient({ url }).action('whoami', { from: 'allowed origin' }), appUrl)
    assert.deepEqual(fromAllowed, { type: 'web', from: 'allowed origin', context: 'response' })

    const evil = await page.context().newPage()
    t.after(() => evil.close())
    await evil.goto(`http://evil.example.test:${other.port}/`)
    const fromEvil = await evil.evaluate(async (url) => await new ActionheroClient({ url }).action('whoami', { from: 'evil' }), appUrl)
    assert.match(String((fromEvil as { error?: string }).error), /fetch/i, 'the browser refuses the answer to a refused preflight')
    assert.deepEqual(fingerprints, [cookie, cookie], 'the visitor\'s cookie went along from both pages, and the refused origin ran nothing')
  })
})
