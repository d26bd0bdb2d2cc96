/**
 * ActionHero v11's original browser client (from the `actionhero@11` package, fetched at test time)
 * against this server, in Chromium: what a page written for ActionHero keeps doing after the move.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { defineAction, type Connection } from '../lib/index.js'
import { actionheroV11ClientSource, renderV11Client } from './fixtures/client/actionhero-v11.js'
import { launchChromium, openPage, skipWithoutChromium } from './fixtures/client/chromium.js'
import { startApp, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>

/** v11's client, as the page sees it (it ships no types). */
interface V11Client {
  state: string
  id: string | null
  rooms: string[]
  welcomeMessage?: string
  on (event: string, listener: (message: Message) => void): void
  connect (callback: (error: unknown, details: Message) => void): void
  action (name: string, params: Message, callback: (response: Message) => void): void
  roomAdd (room: string, callback: (response: Message) => void): void
  roomView (room: string, callback: (response: Message) => void): void
  say (room: string, message: unknown, callback: (response: Message) => void): void
  file (name: string, callback: (response: Message) => void): void
  detailsView (callback: (response: Message) => void): void
  disconnect (): void
}

declare global {
  var v11: V11Client
  var heard: Message[]
}

/** The page of the test: the server's Primus library, then v11's client as v11 rendered it. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>ActionHero v11 client</title>
<script src="/lib/primus.js"></script>
<script src="/v11/actionheroClient.js"></script>`

test('ActionHero v11\'s own browser client works against this server', { timeout: 180_000, skip: skipWithoutChromium }, async (t) => {
  let source: string
  try {
    source = await actionheroV11ClientSource()
  } catch (error) {
    if (process.env.CI !== undefined) throw error
    t.skip(`actionhero@11 could not be fetched from the npm registry (${(error as Error).message.split('\n')[0]}): test skipped`)
    return
  }
  const publicDir = await mkdtemp(join(tmpdir(), 'ahws-v11-'))
  t.after(() => rm(publicDir, { recursive: true, force: true }))
  await writeFile(join(publicDir, 'simple.html'), '<h1>ActionHero</h1>\n')

  const { app, url } = await startApp(t, {
    publicDir,
    memberDetails: (connection: Connection) => ({ type: 'websocket', fingerprint: connection.fingerprint }),
    actions: [defineAction({
      name: 'add',
      inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } as const,
      run: ({ a, b }) => ({ sum: a + b })
    })]
  }, {
    setup: (app) => {
      app.get('/', (request, reply) => reply.type('text/html').send(PAGE))
      app.get('/lib/primus.js', (request, reply) => reply.type('text/javascript').send(app.actionheroWs.primus.library()))
      app.get('/v11/actionheroClient.js', (request, reply) => reply.type('text/javascript').send(renderV11Client(source, { apiPath: '/api' })))
    }
  })
  const browser = await launchChromium()
  t.after(() => browser.close())
  const { page, errors } = await openPage(t, browser, url)

  const connected = await page.evaluate(() => new Promise<{ error: unknown, details: Message, alias: boolean }>((resolve) => {
    globalThis.heard = []
    globalThis.v11 = new ActionheroClient() as unknown as V11Client
    v11.on('say', (message) => heard.push(message))
    v11.connect((error, details) => resolve({ error, details, alias: (globalThis as { actionheroClient?: unknown }).actionheroClient !== undefined }))
  }))
  assert.equal(connected.error, null)
  const id = (connected.details.data as { id: string }).id
  assert.ok(app.actionheroWs.connections.has(id), 'the details are those of its connection')
  assert.equal(connected.alias, true)
  assert.equal(await page.evaluate(() => v11.welcomeMessage), 'Hello! Welcome to the actionhero api')
  assert.equal(await page.evaluate(() => v11.state), 'connected')

  const added = await page.evaluate(() => new Promise<Message>((resolve) => v11.action('add', { a: 1, b: 2 }, resolve)))
  assert.equal(added.sum, 3)
  assert.equal(added.error, undefined)

  const joined = await page.evaluate(() => new Promise<Message>((resolve) => v11.roomAdd('defaultRoom', resolve)))
  assert.equal(joined.status, 'OK')
  assert.deepEqual(await page.evaluate(() => v11.rooms), ['defaultRoom'])

  // Say both ways, with a client of another kind in the room.
  const other = await TestClient.connect(t, url)
  await other.request({ event: 'roomAdd', room: 'defaultRoom' })
  const said = await page.evaluate(() => new Promise<Message>((resolve) => v11.say('defaultRoom', 'hello from v11', resolve)))
  assert.equal(said.status, 'OK')
  const fromV11 = await other.next((message) => message.context === 'user')
  assert.deepEqual({ from: fromV11.from, message: fromV11.message }, { from: id, message: 'hello from v11' })
  await other.request({ event: 'say', room: 'defaultRoom', message: 'hello back' })
  await page.waitForFunction(() => heard.length === 1)
  assert.equal(await page.evaluate(() => heard[0]?.message), 'hello back')

  // v11's test "should view non-default member data", with the memberDetails option.
  const view = await page.evaluate(() => new Promise<Message>((resolve) => v11.roomView('defaultRoom', resolve)))
  const members = view.data as { members: Record<string, Message>, membersCount: number }
  assert.equal(members.membersCount, 2)
  for (const member of Object.values(members.members)) assert.equal(member.type, 'websocket')
  assert.equal(members.members[id]?.fingerprint, app.actionheroWs.connections.get(id)?.fingerprint)

  const file = await page.evaluate(() => new Promise<Message>((resolve) => v11.file('simple.html', resolve)))
  assert.deepEqual({ error: file.error, content: file.content, mime: file.mime }, { error: null, content: '<h1>ActionHero</h1>\n', mime: 'text/html' })

  const details = await page.evaluate(() => new Promise<Message>((resolve) => v11.detailsView(resolve)))
  assert.equal((details.data as { id: string }).id, id)
  assert.deepEqual((details.data as { rooms: string[] }).rooms, ['defaultRoom'])

  assert.equal(await page.evaluate(() => { v11.disconnect(); return v11.state }), 'disconnected')
  await waitFor(() => !app.actionheroWs.connections.has(id))
  assert.equal(app.actionheroWs.connections.size, 1, 'only the other client is left')
  assert.deepEqual(errors, [])
})
