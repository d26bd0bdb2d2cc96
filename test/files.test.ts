/**
 * The `file` event (PROTOCOL.md 3.4): files of the public folder over the socket, and nothing else.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import WebSocket from 'ws'
import actionheroWs, { type ActionheroWsOptions } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'

const PIXEL = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')

/** A temporary folder holding `public/` (the app's public folder) and `secret.txt` next to it. */
async function site (t: TestContext): Promise<{ folder: string, publicDir: string }> {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-files-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  const publicDir = join(folder, 'public')
  await mkdir(join(publicDir, 'docs', 'empty'), { recursive: true })
  await writeFile(join(publicDir, 'index.html'), '<h1>home</h1>')
  await writeFile(join(publicDir, 'hello.txt'), 'Grüße 👋')
  await writeFile(join(publicDir, 'pixel.png'), PIXEL)
  await writeFile(join(publicDir, 'data.json'), '{"a":1}')
  await writeFile(join(publicDir, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9])) // "café" in Latin-1: not UTF-8
  await writeFile(join(publicDir, 'docs', 'index.html'), '<h1>docs</h1>')
  await writeFile(join(folder, 'secret.txt'), 'the secret')
  return { folder, publicDir }
}

/** The `file` event of a client of an app serving `options.publicDir`; `url` is the app's. */
async function fileClient (t: TestContext, options: ActionheroWsOptions): Promise<((file: unknown) => Promise<Record<string, unknown>>) & { url: string }> {
  const { url } = await startApp(t, options)
  const client = await TestClient.connect(t, url)
  return Object.assign((file: unknown) => client.request({ event: 'file', file }), { url })
}

/** GET `path` as written (no URL normalisation on the way), over a real socket. */
function httpGet (url: string, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

/** Asserts that the folder over HTTP answers `path` exactly as it answers a file that is not there. */
async function assertNotFoundOverHttp (url: string, path: string): Promise<void> {
  const missing = await httpGet(url, '/public/missing.txt')
  assert.equal(missing.status, 404)
  assert.deepEqual(await httpGet(url, path), { ...missing, body: missing.body.replace('/public/missing.txt', path) }, path)
}

test('a text file comes as text, with its mime type, length and modification time', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const file = await fileClient(t, { publicDir })
  const modified = await stat(join(publicDir, 'hello.txt'))
  assert.deepEqual(await file('hello.txt'), {
    error: null,
    content: 'Grüße 👋',
    mime: 'text/plain',
    length: Buffer.byteLength('Grüße 👋'),
    lastModified: modified.mtime.getTime(),
    context: 'response',
    messageCount: 1,
    messageId: 'm1'
  })
  assert.equal((await file('data.json')).content, '{"a":1}')
  assert.equal((await file('data.json')).mime, 'application/json')
})

test('other types come base64, and so does text that is not UTF-8', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const file = await fileClient(t, { publicDir })
  const image = await file('/pixel.png')
  assert.deepEqual({ mime: image.mime, encoding: image.encoding, length: image.length }, { mime: 'image/png', encoding: 'base64', length: PIXEL.length })
  assert.deepEqual(Buffer.from(image.content as string, 'base64'), PIXEL)
  const latin1 = await file('latin1.txt')
  assert.equal(latin1.encoding, 'base64')
  assert.deepEqual(Buffer.from(latin1.content as string, 'base64'), Buffer.from([0x63, 0x61, 0x66, 0xe9]))
})

test('a directory gives its index.html; a directory without one is not found', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const file = await fileClient(t, { publicDir })
  for (const name of ['', '/', '.', 'docs/..']) assert.equal((await file(name)).content, '<h1>home</h1>', JSON.stringify(name))
  assert.equal((await file('docs')).content, '<h1>docs</h1>')
  assert.equal((await file('docs/')).mime, 'text/html')
  assert.deepEqual(await file('docs/empty'), {
    error: 'That file is not found', content: null, mime: null, length: 0, context: 'response', messageCount: 7, messageId: 'm7'
  })
})

test('nothing outside the public folder is read: .., absolute paths, encoded separators, odd values', { timeout: 30_000 }, async (t) => {
  const { folder, publicDir } = await site(t)
  const file = await fileClient(t, { publicDir })
  const attempts: unknown[] = [
    '../secret.txt', 'docs/../../secret.txt', '/../secret.txt', '..\\secret.txt', join(folder, 'secret.txt'),
    '..%2fsecret.txt', '%2e%2e/secret.txt', '%2e%2e%2fsecret.txt', '..%5csecret.txt', 'hello.txt\0.png', 'missing.txt',
    42, null, ['hello.txt'], { path: 'hello.txt' }, undefined
  ]
  for (const name of attempts) {
    const reply = await file(name)
    assert.deepEqual({ error: reply.error, content: reply.content }, { error: 'That file is not found', content: null }, JSON.stringify(name))
  }
})

test('symlinks are followed only to where the public folder is, by the file event and over HTTP', { timeout: 30_000 }, async (t) => {
  const { folder, publicDir } = await site(t)
  await mkdir(join(folder, 'elsewhere'))
  await writeFile(join(folder, 'elsewhere', 'index.html'), '<h1>elsewhere</h1>')
  await mkdir(join(publicDir, '.git'))
  await writeFile(join(publicDir, '.git', 'config'), '[core]')
  await symlink(join(publicDir, 'hello.txt'), join(publicDir, 'greeting.txt'))
  await symlink(join(publicDir, 'docs'), join(publicDir, 'manual'))
  await symlink(join(folder, 'secret.txt'), join(publicDir, 'leak.txt'))
  await symlink(folder, join(publicDir, 'up'))
  await symlink(join(folder, 'elsewhere'), join(publicDir, 'away'))
  await symlink(join(publicDir, '.git', 'config'), join(publicDir, 'config'))
  await symlink(publicDir, join(folder, 'linked-public'))
  const file = await fileClient(t, { publicDir })
  assert.equal((await file('greeting.txt')).content, 'Grüße 👋')
  assert.equal((await file('manual/')).content, '<h1>docs</h1>')
  for (const name of ['leak.txt', 'up/secret.txt', 'away', 'away/index.html', 'config']) {
    assert.equal((await file(name)).error, 'That file is not found', name)
  }
  assert.equal(await (await fetch(`${file.url}/public/greeting.txt`)).text(), 'Grüße 👋', 'a symlink inside is served')
  assert.equal(await (await fetch(`${file.url}/public/manual/`)).text(), '<h1>docs</h1>')
  for (const path of ['/public/leak.txt', '/public/up/secret.txt', '/public/away/', '/public/away/index.html', '/public/config']) {
    await assertNotFoundOverHttp(file.url, path)
  }

  const throughLink = await fileClient(t, { publicDir: join(folder, 'linked-public') })
  assert.equal((await throughLink('hello.txt')).content, 'Grüße 👋', 'a public folder that is itself a symlink works')
  assert.equal(await (await fetch(`${throughLink.url}/public/hello.txt`)).text(), 'Grüße 👋', 'over HTTP too')
  await assertNotFoundOverHttp(throughLink.url, '/public/leak.txt')
})

test('dotfiles are not found, by the file event and over HTTP (404, as a missing file); the generated client is served', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  await writeFile(join(publicDir, '.env'), 'SECRET=1')
  await writeFile(join(publicDir, 'docs', '.env'), 'SECRET=2')
  await mkdir(join(publicDir, '.git'))
  await writeFile(join(publicDir, '.git', 'config'), '[core]')
  await writeFile(join(publicDir, '.git', 'index.html'), '<h1>git</h1>')
  const file = await fileClient(t, { publicDir, clientJsName: 'actionheroClient' })
  const names = ['.env', '/.env', './.env', 'docs/../.env', 'docs/.env', '.git/config', '.git', '.git/', 'docs/../.git/config', '%2eenv', '%2Egit/config']
  for (const name of names) {
    const reply = await file(name)
    assert.deepEqual({ error: reply.error, content: reply.content }, { error: 'That file is not found', content: null }, name)
  }
  assert.equal((await file('docs/')).content, '<h1>docs</h1>', 'the folders beside them still answer')
  const paths = ['/public/.env', '/public/.git/config', '/public/.git/', '/public/docs/.env', '/public/%2eenv', '/public/%2Eenv',
    '/public/%2egit/config', '/public/docs/%2eenv', '/public/.git%2fconfig', '/public/docs/%2e%65nv']
  for (const path of paths) await assertNotFoundOverHttp(file.url, path)
  assert.equal(await (await fetch(`${file.url}/public/hello.txt`)).text(), 'Grüße 👋')
  const client = await fetch(`${file.url}/public/javascript/actionheroClient.js`)
  assert.equal(client.status, 200)
  assert.match(await client.text(), /ActionheroClient/)
})

test('a file larger than maxFileBytes is refused', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const file = await fileClient(t, { publicDir, maxFileBytes: Buffer.byteLength('Grüße 👋') })
  assert.equal((await file('hello.txt')).error, null, 'a file of exactly the limit is sent')
  assert.deepEqual(await file('pixel.png'), {
    error: 'That file is too large', content: null, mime: null, length: 0, context: 'response', messageCount: 2, messageId: 'm2'
  })
})

test('a FIFO in the public folder is refused at once and never stalls other files', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const fifo = join(publicDir, 'pipe')
  execFileSync('mkfifo', [fifo])
  t.after(() => {
    // Should a read be stuck in open() (the bug this guards against), a writer lets it go.
    try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)) } catch {}
  })
  const { url } = await startApp(t, { publicDir })
  const client = await TestClient.connect(t, url)
  // More than libuv's 4 threads: a blocking open() would take them all.
  const pipes = await Promise.all(Array.from({ length: 8 }, () => client.request({ event: 'file', file: 'pipe' })))
  assert.deepEqual(new Set(pipes.map((reply) => reply.error)), new Set(['That file is not found']))
  assert.equal((await client.request({ event: 'file', file: 'hello.txt' })).content, 'Grüße 👋')
  assert.equal(await (await fetch(`${url}/public/hello.txt`)).text(), 'Grüße 👋', 'the app\'s static files answer too')
})

test('a burst of 10,000 file requests from one client gets bounded answers, and a new client connects meanwhile', { timeout: 60_000 }, async (t) => {
  const { publicDir } = await site(t)
  const { url } = await startApp(t, { publicDir })
  const flooder = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => flooder.terminate())
  const answers = new Map<string, number>()
  let replies = 0
  flooder.on('message', (data) => {
    const reply = JSON.parse(String(data)) as { messageId?: number, error?: string | null }
    if (reply.messageId === undefined) return
    replies++
    const outcome = reply.error ?? 'sent'
    answers.set(outcome, (answers.get(outcome) ?? 0) + 1)
  })
  await new Promise((resolve) => flooder.once('open', resolve))
  const count = 10_000
  for (let n = 1; n <= count; n++) flooder.send(`{"event":"file","file":"hello.txt","messageId":${n}}`)
  const newcomer = await TestClient.connect(t, url)
  assert.equal((await newcomer.request({ event: 'detailsView' })).status, 'OK', 'a new handshake during the burst works')
  // Its file waits its turn behind the flood's reads (a generous deadline on a loaded machine), and comes.
  newcomer.socket.write({ event: 'file', file: 'hello.txt', messageId: 'newcomer' })
  assert.equal((await newcomer.next((message) => message.messageId === 'newcomer', 30_000)).content, 'Grüße 👋')
  await waitFor(() => replies === count, 30_000)
  assert.deepEqual([...answers.keys()].filter((outcome) => outcome !== 'sent' && outcome !== 'you have too many pending requests'), [],
    `only files and refusals: ${JSON.stringify([...answers])}`)
  assert.ok((answers.get('sent') ?? 0) >= 1000, 'at least the first maxPendingRequests are read')
})

test('out of file descriptors, a file request is answered as a server error, never as "not found"', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  // A server of its own whose descriptors run out: a low limit, then filled up but for the one that accepts us.
  const fixture = fileURLToPath(new URL('fixtures/few-descriptors.ts', import.meta.url))
  const child = spawn('bash', ['-c', 'ulimit -n 128 && exec node --import tsx "$0" "$1"', fixture, publicDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data) => resolve(Number(String(data).trim())))
    child.once('exit', (code) => reject(new Error(`the fixture exited with ${code}`)))
  })
  const client = new WebSocket(`ws://127.0.0.1:${port}/primus`)
  t.after(() => client.terminate())
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    client.once('open', () => client.send('{"event":"file","file":"hello.txt","messageId":1}'))
    client.on('message', (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>
      if (message.messageId === 1) resolve(message)
    })
    client.once('error', reject)
  })
  assert.deepEqual({ error: reply.error, content: reply.content }, { error: 'The server experienced an internal error', content: null })
})

test('the public folder\'s other errors still go to the app\'s error handler', { timeout: 30_000 }, async (t) => {
  const { publicDir } = await site(t)
  const app = Fastify()
  t.after(() => app.close())
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => reply.code(error.statusCode ?? 500).send({ handledByApp: error.message }))
  await app.register(actionheroWs, { clientJsName: null, publicDir })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  // @fastify/static refuses a path that is not canonical with an error, before any file is looked up.
  assert.deepEqual(await httpGet(url, '/public//hello.txt'), { status: 403, body: '{"handledByApp":"Forbidden"}' })
  await assertNotFoundOverHttp(url, '/public/.env')
})
