/**
 * Everything the plugin serves moves with the registration prefix: the socket, the HTTP API, the
 * public files, and the paths baked into the generated client.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test, type TestContext } from 'node:test'
import { runInNewContext } from 'node:vm'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import actionheroWs, { type ActionheroWsOptions } from '../lib/index.js'
import { createPrimusSocket } from '../lib/primus.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import './fixtures/client/page.js'

const echo = { name: 'echo', inputs: { type: 'object', properties: { text: { type: 'string' } } }, run: ({ text }: Record<string, unknown>) => ({ text }) }

async function listen (t: TestContext, app: FastifyInstance): Promise<string> {
  t.after(() => app.close())
  return await app.listen({ port: 0, host: '127.0.0.1' })
}

async function checkMovedTo (t: TestContext, app: FastifyInstance, url: string, prefix: string): Promise<void> {
  // The generated client knows where its socket and its API are.
  const file = await app.inject(`${prefix}/public/javascript/actionheroClient.js`)
  assert.equal(file.statusCode, 200)
  const page: Record<string, unknown> = { location: { origin: url } }
  page.window = page
  runInNewContext(file.body, page)
  assert.equal((page.Primus as { prototype: { pathname: string } }).prototype.pathname, `${prefix}/primus`)
  assert.equal((page.ActionheroClient as { defaults: { apiPath: string } }).defaults.apiPath, `${prefix}/api`)

  // The socket is where the client looks for it, and nowhere else.
  const Socket = createPrimusSocket({ transformer: 'websockets', parser: 'JSON', pathname: `${prefix}/primus` })
  const socket = new Socket(url, { strategy: false })
  t.after(() => socket.end())
  const replies: unknown[] = []
  socket.on('data', (message: unknown) => replies.push(structuredClone(message)))
  socket.write({ event: 'action', params: { action: 'echo', text: 'over the socket' }, messageId: 1 })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply: ${JSON.stringify(replies)}`)), 5000)
    socket.on('data', (message: { messageId?: unknown }) => {
      if (message.messageId === 1) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  assert.deepEqual(replies.at(-1), { text: 'over the socket', context: 'response', messageCount: 1, messageId: 1 })
  assert.equal((await fetch(`${url}${prefix}/primus/primus.js`)).status, 200)
  assert.equal((await fetch(`${url}/primus/primus.js`)).status, 404)

  // So is the API.
  assert.deepEqual((await app.inject({ method: 'POST', url: `${prefix}/api/echo`, payload: { text: 'over http' } })).json(), { text: 'over http' })
  assert.equal((await app.inject({ method: 'POST', url: '/api/echo', payload: {} })).statusCode, 404)
  assert.equal((await app.inject('/public/javascript/actionheroClient.js')).statusCode, 404)
}

test('registered in a context with a prefix, the socket, the API, the public files and the client move with it', { timeout: 30_000 }, async (t) => {
  const app = Fastify()
  await app.register(async (chat) => {
    await chat.register(actionheroWs, { actions: [echo] })
  }, { prefix: '/chat' })
  await checkMovedTo(t, app, await listen(t, app), '/chat')
})

test('the prefix option does the same for a registration at the root, under the context\'s own prefix', { timeout: 30_000 }, async (t) => {
  const app = Fastify()
  const options: ActionheroWsOptions = { actions: [echo], prefix: '/chat' }
  await app.register(async (v1) => {
    await v1.register(actionheroWs, options)
    assert.ok(v1.hasDecorator('actionheroWs'), 'the decorators stay in the context the plugin was registered in')
  }, { prefix: '/v1' })
  await checkMovedTo(t, app, await listen(t, app), '/v1/chat')
})

describe('under a prefix, the generated client in Chromium', { skip: skipWithoutChromium }, () => {
  let browser: Browser
  before(async () => { browser = await launchChromium() })
  after(() => browser?.close())

  test('finds its socket and, without one, its HTTP API under the prefix', { timeout: 60_000 }, async (t) => {
    const app = Fastify()
    await app.register(async (chat) => {
      await chat.register(actionheroWs, { actions: [echo] })
      chat.get('/', (_request, reply) => reply.type('text/html').send(
        '<!doctype html><meta charset="utf-8"><script src="/chat/public/javascript/actionheroClient.min.js"></script>'))
    }, { prefix: '/chat' })
    const url = await listen(t, app)
    const { page, errors } = await openPage(t, browser, `${url}/chat/`)
    const result = await page.evaluate(async () => {
      const client = new ActionheroClient()
      await client.connect()
      const overSocket = await client.action('echo', { text: 'socket' })
      client.disconnect()
      const overHttp = await client.action('echo', { text: 'http' })
      return { overSocket: overSocket.text, overHttp: overHttp.text, httpError: overHttp.error ?? null }
    })
    assert.deepEqual(result, { overSocket: 'socket', overHttp: 'http', httpError: null })
    assert.deepEqual(errors, [])
  })
})
