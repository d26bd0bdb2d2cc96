import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { test } from 'node:test'
import Fastify from 'fastify'
import actionheroWs from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'

test('every option has the default of docs/DESIGN.md', () => {
  const options = resolveOptions(undefined, '/srv/app')
  assert.deepEqual({ ...options, allowedOrigins: [...(options.allowedOrigins as Set<string>)] }, {
    enabled: true,
    prefix: '',
    clientUrl: 'window.location.origin',
    publicDir: '/srv/app/public',
    clientDir: null,
    publicPrefix: '/public/',
    clientJsPath: 'javascript/',
    clientJsName: 'actionheroClient',
    destroyClientsOnShutdown: false,
    welcomeMessage: 'Hello! Welcome to the actionhero api',
    rooms: ['defaultRoom', 'anotherRoom'],
    echoSay: false,
    history: { size: 100, ttl: 120_000, maxBytes: 1024 * 1024 },
    sayLimit: { messages: 20, bytes: 1024 * 1024 },
    memberDetails: null,
    presence: null,
    simultaneousActions: 5,
    maxPendingRequests: 1000,
    actions: [],
    apiPath: '/api',
    apiMethods: ['POST'],
    fingerprint: { cookieKey: 'sessionID', setCookie: true, cookie: { httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto' }, maxLength: 256, secrets: [] },
    allowedOrigins: [],
    authorize: null,
    refresh: null,
    refreshGrace: 10_000,
    maxBufferedBytes: 16 * 1024 * 1024,
    maxFileBytes: 1024 * 1024,
    maxConcurrentFileReads: 16,
    shutdownTimeout: 5000,
    metrics: null,
    drain: { batchSize: 400, intervalMs: 50 },
    redis: null,
    server: { pathname: '/primus', transformer: 'websockets', parser: 'JSON', maxLength: 1048576 },
    client: {}
  })
})

test('options are normalised', () => {
  const options = resolveOptions({
    publicDir: 'static',
    publicPrefix: '/assets',
    apiPath: '/rpc/',
    clientJsPath: 'js',
    rooms: ['a', 'b', 'a'],
    allowedOrigins: ['https://Example.com:443/', 'http://localhost:3000'],
    fingerprint: { cookieKey: 'visitor', cookie: { sameSite: 'strict' } },
    server: { maxLength: 1000, pingInterval: 10000 }
  }, '/srv/app')
  assert.equal(options.publicDir, resolve('/srv/app', 'static'))
  assert.equal(options.publicPrefix, '/assets/')
  assert.equal(options.apiPath, '/rpc')
  assert.equal(options.clientJsPath, 'js')
  assert.deepEqual(options.rooms, ['a', 'b'])
  assert.deepEqual([...(options.allowedOrigins as Set<string>)], ['https://example.com', 'http://localhost:3000'])
  assert.deepEqual(options.fingerprint, {
    cookieKey: 'visitor', setCookie: true, cookie: { httpOnly: true, sameSite: 'strict', path: '/', secure: 'auto' }, maxLength: 256, secrets: []
  })
  const secret = 's'.repeat(32)
  assert.deepEqual(resolveOptions({ fingerprint: { secret } }).fingerprint.secrets, [secret], 'one secret is a list of one')
  assert.deepEqual(resolveOptions({ fingerprint: { secret: [secret, 'o'.repeat(40)], maxLength: 76 } }).fingerprint,
    { ...resolveOptions({}).fingerprint, secrets: [secret, 'o'.repeat(40)], maxLength: 76 })
  assert.deepEqual(options.server, { pathname: '/primus', transformer: 'websockets', parser: 'JSON', maxLength: 1000, pingInterval: 10000 })
  assert.equal(resolveOptions({ allowedOrigins: '*' }).allowedOrigins, '*')
  assert.equal(resolveOptions({ publicPrefix: false, apiPath: false, clientJsName: null }).publicPrefix, false)
})

// Each bad value, and the words its error must contain besides the option's name.
const badOptions: Array<[string, unknown, string]> = [
  ['enabled', 'yes', 'must be a boolean'],
  ['clientUrl', '', 'must be a non-empty string'],
  ['publicDir', 42, 'must be a folder path'],
  ['publicPrefix', 'public', 'must start with "/"'],
  ['publicPrefix', true, 'must be a URL path or false'],
  ['clientJsPath', '../outside', 'must be a folder inside publicDir'],
  ['clientJsPath', '/etc', 'must be a folder inside publicDir'],
  ['clientJsPath', 'js/.hidden/', 'must not name a folder starting with "."'],
  ['clientJsName', 'a/b', 'must be a file name'],
  ['clientJsName', '', 'must be a file name'],
  ['destroyClientsOnShutdown', 1, 'must be a boolean'],
  ['welcomeMessage', true, 'must be a string or false'],
  ['rooms', 'defaultRoom', 'must be an array of room names'],
  ['rooms', [''], 'must hold non-empty strings'],
  ['rooms', ['x'.repeat(257)], 'must hold non-empty strings of at most 256 characters'],
  ['echoSay', 'no', 'must be a boolean'],
  ['simultaneousActions', 0, 'must be a positive integer'],
  ['simultaneousActions', 2.5, 'must be a positive integer'],
  ['maxPendingRequests', 0, 'must be a positive integer'],
  ['maxConcurrentFileReads', -1, 'must be a positive integer'],
  ['actions', {}, 'must be an array of action definitions'],
  ['apiPath', 'api', 'must start with "/"'],
  ['fingerprint', 'sessionID', 'must be an object'],
  ['allowedOrigins', 42, 'must be "*", an origin or an array of origins'],
  ['allowedOrigins', ['example.com'], 'must list origins'],
  ['authorize', true, 'must be a function'],
  ['maxBufferedBytes', -1, 'must be a positive integer'],
  ['maxFileBytes', 0, 'must be a positive integer'],
  ['shutdownTimeout', -5, 'must be a non-negative integer'],
  ['drain', true, 'must be an object { batchSize, intervalMs } or false'],
  ['server', 'primus', 'must be an object'],
  ['client', [], 'must be an object'],
  ['welcomeMesage', 'hi', 'is not a known option']
]

test('a bad option fails register with a coded error that names it', async (t) => {
  for (const [name, value, words] of badOptions) {
    await t.test(`${name}: ${JSON.stringify(value)}`, async () => {
      const app = Fastify()
      app.register(actionheroWs, { clientJsName: null, [name]: value })
      await assert.rejects(async () => { await app.ready() }, (error: Error & { code?: string }) => {
        assert.equal(error.code, 'FST_AHWS_INVALID_OPTION')
        assert.ok(error.message.startsWith(`"${name}" option `), error.message)
        assert.ok(error.message.includes(words), `${error.message} should say ${words}`)
        return true
      })
      await app.close()
    })
  }
})

test('nested options are checked and named with their path', () => {
  const cases: Array<[unknown, string]> = [
    [{ fingerprint: { cookieKey: 'bad key' } }, '"fingerprint.cookieKey" option must be a cookie name'],
    [{ fingerprint: { setCookie: 'yes' } }, '"fingerprint.setCookie" option must be a boolean'],
    [{ fingerprint: { cookie: 'HttpOnly' } }, '"fingerprint.cookie" option must be an object'],
    [{ fingerprint: { key: 'x' } }, '"fingerprint.key" option is not a known option'],
    [{ fingerprint: { secret: 'short' } }, '"fingerprint.secret" option must be a string of at least 32 characters, or a non-empty array of them'],
    [{ fingerprint: { secret: [] } }, '"fingerprint.secret" option must be a string of at least 32 characters'],
    [{ fingerprint: { secret: ['s'.repeat(32), 'short'] } }, '"fingerprint.secret" option must be a string of at least 32 characters'],
    [{ fingerprint: { maxLength: 0 } }, '"fingerprint.maxLength" option must be an integer of at least 32 (the length of the fingerprints the plugin issues)'],
    [{ fingerprint: { maxLength: 75, secret: 's'.repeat(32) } }, '"fingerprint.maxLength" option must be an integer of at least 76 (the length of the fingerprints the plugin issues signed)'],
    [{ server: { pathname: 'primus' } }, '"server.pathname" option must be a path starting with "/"'],
    [{ server: { maxLength: '1mb' } }, '"server.maxLength" option must be a positive integer'],
    [{ drain: { batchSize: 0 } }, '"drain.batchSize" option must be a positive integer (connections)'],
    [{ drain: { batchSize: 2.5 } }, '"drain.batchSize" option must be a positive integer (connections)'],
    [{ drain: { intervalMs: -1 } }, '"drain.intervalMs" option must be a non-negative integer (ms)'],
    [{ drain: { batch: 10 } }, '"drain.batch" option is not a known option']
  ]
  for (const [options, message] of cases) {
    assert.throws(() => resolveOptions(options), (error: Error & { code?: string }) =>
      error.code === 'FST_AHWS_INVALID_OPTION' && error.message.startsWith(message))
  }
})

test('options Primus refuses fail register naming "server"', async () => {
  const app = Fastify()
  app.register(actionheroWs, { clientJsName: null, server: { parser: 'carrier-pigeon' } })
  await assert.rejects(async () => { await app.ready() }, /"server" option was refused by Primus/)
  await app.close()
})

test('Fastify\'s own register options are accepted', async () => {
  const app = Fastify()
  await app.register(actionheroWs, { clientJsName: null, logLevel: 'warn' } as never)
  assert.ok(app.actionheroWs)
  await app.close()
})

test('fingerprint.cookie attributes are checked at register, not at every request', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ sameSite: 'sometimes' }, /^"fingerprint.cookie" option is refused: option sameSite is invalid/],
    [{ domain: 'not a domain' }, /^"fingerprint.cookie" option is refused: option domain is invalid/],
    [{ maxAge: 1.5 }, /^"fingerprint.cookie" option is refused: option maxAge is invalid/],
    [{ secure: 'yes' }, /^"fingerprint.cookie.secure" option must be a boolean or "auto"/],
    [{ signed: true }, /^"fingerprint.cookie.signed" option is not a cookie attribute/]
  ]
  for (const [cookie, message] of cases) {
    const app = Fastify()
    t.after(() => app.close())
    await assert.rejects(async () => { await app.register(actionheroWs, { clientJsName: null, fingerprint: { cookie } as never }) },
      (error: Error & { code?: string }) => error.code === 'FST_AHWS_INVALID_OPTION' && message.test(error.message))
  }
  const app = Fastify()
  t.after(() => app.close())
  await app.register(actionheroWs, { clientJsName: null, fingerprint: { cookie: { maxAge: 3600, sameSite: 'strict', domain: 'example.com' } } })
  const response = await app.inject('/anything')
  assert.match(String(response.headers['set-cookie']), /^sessionID=[0-9a-f]{32}; Max-Age=3600; Domain=example.com; Path=\/; HttpOnly; SameSite=Strict$/)
})

test('prefix and clientDir are read like the other paths', () => {
  assert.equal(resolveOptions({ prefix: '/chat/' }).prefix, '/chat')
  assert.equal(resolveOptions({ prefix: '/' }).prefix, '')
  assert.equal(resolveOptions({ clientDir: 'build/client' }, '/srv/app').clientDir, '/srv/app/build/client')
  assert.throws(() => resolveOptions({ prefix: 'chat' }), /"prefix" option must start with "\/"/)
})
