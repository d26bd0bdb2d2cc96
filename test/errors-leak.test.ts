/**
 * What the app did not choose to say stays in the log. An Error thrown by an action, a chat middleware
 * or `authorize` is the app's message, sent as ActionHero sent it; a Node.js system error (its text
 * names files and addresses) and what is not an Error answer a generic message, on the socket and
 * over HTTP, and the real error is logged.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createServer, connect, type AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import WebSocket from 'ws'
import { ERRORS, type ActionheroWsOptions } from '../lib/index.js'
import { rawRequest } from './fixtures/http-request.js'
import { startApp, TestClient, type RunningApp } from './helpers.js'

interface LogLine { level: number, msg: string, err?: { message: string } }

/** A real ECONNREFUSED, as a database client gets it when its server is down. */
async function refusedConnection (): Promise<Error> {
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const { port } = closed.address() as AddressInfo
  await new Promise((resolve) => closed.close(resolve))
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('error', resolve)
  })
}

/** A real ENOENT, with the path in its message. */
async function missingFile (): Promise<Error> {
  return await readFile('/srv/app/secrets/database.env').then(() => { throw new Error('the file exists') }, (error: Error) => error)
}

async function loggedApp (t: TestContext, options: ActionheroWsOptions): Promise<RunningApp & { lines: LogLine[] }> {
  const lines: LogLine[] = []
  const running = await startApp(t, options, {
    fastify: { logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } } } }
  })
  return { ...running, lines }
}

/** The socket's answer to a handshake: status and body. */
function handshake (url: string, path = '/primus'): Promise<{ statusCode: number, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`)
    socket.once('open', () => {
      socket.terminate()
      reject(new Error('the handshake was let through'))
    })
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += String(chunk) })
      response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, body }))
    })
    socket.once('error', reject)
  })
}

const GENERIC = JSON.stringify({ error: ERRORS.internalError })

test('authorize failing with a system error (ECONNREFUSED) answers 500 and a generic body, on the socket and over HTTP; the log has the real error', async (t) => {
  const refused = await refusedConnection()
  assert.match(refused.message, /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/)
  const { url, lines } = await loggedApp(t, { authorize: () => { throw refused } })
  assert.deepEqual(await handshake(url), { statusCode: 500, body: GENERIC })
  const http = await rawRequest(`${url}/api/documentation`, { method: 'POST' })
  assert.deepEqual([http.statusCode, http.body], [500, GENERIC])
  const logged = lines.filter((line) => line.err?.message === refused.message)
  assert.deepEqual(logged.map(({ level, msg }) => ({ level, msg })), [
    { level: 50, msg: 'fastify-actionhero-ws: handshake refused' },
    { level: 50, msg: 'fastify-actionhero-ws: API request refused' }
  ])
})

test('authorize throwing what is not an Error answers 500 and a generic body; an Error keeps its message (401, or its own status)', async (t) => {
  const { url } = await startApp(t, {
    authorize: (request) => {
      const { mode } = request.query
      if (mode === 'forbidden') throw Object.assign(new Error('banned'), { statusCode: 403 })
      if (mode === 'plain') throw new Error('bad token')
      if (mode === 'empty') throw new Error('')
      if (mode === 'down') throw Object.assign(new Error('try again later'), { statusCode: 503 })
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      throw { password: 'hunter2' }
    }
  })
  assert.deepEqual(await handshake(url, '/primus?mode=object'), { statusCode: 500, body: GENERIC })
  assert.deepEqual(await handshake(url, '/primus?mode=plain'), { statusCode: 401, body: '{"error":"bad token"}' })
  assert.deepEqual(await handshake(url, '/primus?mode=empty'), { statusCode: 401, body: '{"error":"unauthorized"}' })
  assert.deepEqual(await handshake(url, '/primus?mode=forbidden'), { statusCode: 403, body: '{"error":"banned"}' })
  assert.deepEqual(await handshake(url, '/primus?mode=down'), { statusCode: 503, body: '{"error":"try again later"}' })
})

test('an action throwing ENOENT with a path answers the generic message, on the socket and over HTTP; new Error("nope") still answers nope', async (t) => {
  const enoent = await missingFile()
  assert.match(enoent.message, /\/srv\/app\/secrets\/database\.env/)
  const { url, lines } = await loggedApp(t, {
    actions: [
      { name: 'config', run: async () => { throw await missingFile() } },
      { name: 'nope', run: () => { throw new Error('nope') } }
    ]
  })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('config')).error, ERRORS.internalError)
  assert.equal((await client.action('nope')).error, 'nope')
  const http = await rawRequest(`${url}/api/config`, { method: 'POST' })
  assert.deepEqual([http.statusCode, http.body], [500, GENERIC])
  const nope = await rawRequest(`${url}/api/nope`, { method: 'POST' })
  assert.deepEqual([nope.statusCode, nope.body], [500, '{"error":"nope"}'])
  const logged = lines.filter((line) => line.err?.message === enoent.message)
  assert.equal(logged.length, 2, 'the socket\'s and the HTTP call\'s, with the path')
  assert.ok(logged.every((line) => line.level === 50))
})

test('a chat middleware failing with a system error answers the generic message; its own Error is its refusal', async (t) => {
  const refused = await refusedConnection()
  const { app, url, lines } = await loggedApp(t, {})
  app.actionheroWs.rooms.use({
    name: 'guard',
    join: (_connection, room) => {
      if (room === 'defaultRoom') throw refused
      throw new Error('members only')
    }
  })
  const client = await TestClient.connect(t, url)
  const failed = await client.request({ event: 'roomAdd', room: 'defaultRoom' })
  assert.deepEqual([failed.status, failed.error, failed.data], [ERRORS.internalError, ERRORS.internalError, false])
  const refusal = await client.request({ event: 'roomAdd', room: 'anotherRoom' })
  assert.equal(refusal.error, 'members only')
  const logged = lines.filter((line) => line.err?.message === refused.message)
  assert.deepEqual(logged.map(({ level, msg }) => ({ level, msg })), [{ level: 50, msg: 'fastify-actionhero-ws: a room request failed' }])
})
