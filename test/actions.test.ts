import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import actionheroWs, { defineAction, type ActionDefinition } from '../lib/index.js'
import { startApp, TestClient } from './helpers.js'

const add = defineAction({
  name: 'add',
  description: 'adds two numbers',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  run: ({ a, b }) => ({ sum: a + b })
})

const echoParams = defineAction({
  name: 'echoParams',
  inputs: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 3 },
      count: { type: 'integer', default: 1 },
      nested: { type: 'object', properties: { deep: { type: 'string' } }, required: ['deep'] }
    }
  },
  run: (params) => ({ params })
})

test('an action runs with validated params and replies with the fields it returned', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { actions: [add] })
  const client = await TestClient.connect(t, url)
  const reply = await client.action('add', { a: 2, b: 3 })
  assert.deepEqual(reply, { sum: 5, context: 'response', messageCount: 1, messageId: 'm1' })
})

test('inputs: required, schema errors named, unknown params removed, defaults and coercion', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { actions: [add, echoParams] })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('add', { a: 1 })).error, 'b is a required parameter for this action')
  assert.equal((await client.action('add', {})).error, 'a is a required parameter for this action')
  assert.equal((await client.action('add', { a: 1, b: 'two' })).error, '`b` must be number')
  assert.equal((await client.action('echoParams', { name: 'ab' })).error, '`name` must NOT have fewer than 3 characters')
  assert.equal((await client.action('echoParams', { nested: {} })).error, 'nested.deep is a required parameter for this action')
  assert.deepEqual((await client.action('echoParams', { nested: { deep: 5 }, name: 'abc' })).params,
    { nested: { deep: '5' }, name: 'abc', count: 1 }, 'types are coerced as Fastify does')
  const reply = await client.action('echoParams', { name: 'abcd', count: '7', extra: 'dropped', nested: { deep: 'x' } })
  assert.deepEqual(reply.params, { name: 'abcd', count: 7, nested: { deep: 'x' } })
  assert.deepEqual((await client.action('echoParams')).params, { count: 1 })
  // The action name and undeclared params never reach `run`.
  assert.equal('action' in (reply.params as object), false)
})

test('an action without inputs gets no params', { timeout: 30_000 }, async (t) => {
  let received: unknown
  const { url } = await startApp(t, { actions: [{ name: 'bare', run: (params) => { received = params } }] })
  const client = await TestClient.connect(t, url)
  await client.action('bare', { anything: 1 })
  assert.deepEqual(received, {})
})

test('unknown actions and missing params get "unknown action or invalid apiVersion"', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { actions: [add] })
  const client = await TestClient.connect(t, url)
  for (const message of [
    { event: 'action', params: { action: 'subtract' } },
    { event: 'action', params: {} },
    { event: 'action' },
    { event: 'action', params: 'add' },
    { event: 'action', params: { action: ['add'] } }
  ]) {
    const reply = await client.request(message)
    assert.equal(reply.error, 'unknown action or invalid apiVersion', JSON.stringify(message))
    assert.deepEqual(Object.keys(reply).sort(), ['context', 'error', 'messageCount', 'messageId'])
  }
})

test('errors thrown by run: an Error gives its message, anything else the internal error', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, {
    actions: [
      { name: 'throwsError', run: () => { throw new Error('the vault is locked') } },
      { name: 'rejects', run: async () => { throw new TypeError('bad type') } },
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      { name: 'throwsString', run: () => { throw 'oops' as unknown as Error } },
      // eslint-disable-next-line no-throw-literal -- a non-Error thrown on purpose
      { name: 'throwsObject', run: async () => { throw { message: 'not an error' } as unknown as Error } }
    ]
  })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('throwsError')).error, 'the vault is locked')
  assert.equal((await client.action('rejects')).error, 'bad type')
  assert.equal((await client.action('throwsString')).error, 'The server experienced an internal error')
  assert.equal((await client.action('throwsObject')).error, 'The server experienced an internal error')
})

test('every result gets a reply: non-objects under data, and the server\'s keys cannot be overridden', { timeout: 30_000 }, async (t) => {
  const results: Record<string, unknown> = {
    string: 'text',
    number: 42,
    array: [1, 2],
    null: null,
    boolean: false,
    date: new Date(0),
    nothing: undefined,
    spoof: { context: 'user', messageCount: 999, messageId: 'forged', error: 'fake', ok: true }
  }
  const { url } = await startApp(t, { actions: Object.entries(results).map(([name, value]) => ({ name, run: () => value })) })
  const client = await TestClient.connect(t, url)
  const body = async (name: string): Promise<Record<string, unknown>> => {
    const { context, messageCount, messageId, ...rest } = await client.action(name)
    assert.equal(context, 'response')
    assert.equal(typeof messageCount, 'number')
    assert.equal(typeof messageId, 'string')
    return rest
  }
  assert.deepEqual(await body('string'), { data: 'text' })
  assert.deepEqual(await body('number'), { data: 42 })
  assert.deepEqual(await body('array'), { data: [1, 2] })
  assert.deepEqual(await body('null'), { data: null })
  assert.deepEqual(await body('boolean'), { data: false })
  assert.deepEqual(await body('date'), { data: '1970-01-01T00:00:00.000Z' })
  assert.deepEqual(await body('nothing'), {})
  const spoof = await client.action('spoof')
  assert.equal(spoof.context, 'response')
  assert.equal(spoof.messageId, 'm8')
  assert.equal(spoof.ok, true)
  assert.equal('error' in spoof, false)
  assert.notEqual(spoof.messageCount, 999)
})

test('simultaneousActions: the 6th concurrent action is refused at once, the other 5 succeed', { timeout: 30_000 }, async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, url } = await startApp(t, { actions: [{ name: 'wait', run: async () => { await gate; return { done: true } } }] })
  const client = await TestClient.connect(t, url)
  const first = Array.from({ length: 5 }, () => client.action('wait'))
  const sixth = await client.action('wait')
  assert.equal(sixth.error, 'you have too many pending requests')
  const [connection] = app.actionheroWs.connections.values()
  assert.equal(connection?.pendingActions, 5)
  release()
  for (const reply of await Promise.all(first)) assert.equal(reply.done, true)
  assert.equal(connection?.pendingActions, 0)
  assert.equal(connection?.totalActions, 6)
  assert.equal((await client.action('wait')).done, true, 'the limit frees as actions finish')
})

test('simultaneousActions is an option', { timeout: 30_000 }, async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { url } = await startApp(t, { simultaneousActions: 1, actions: [{ name: 'wait', run: async () => { await gate } }] })
  const client = await TestClient.connect(t, url)
  const first = client.action('wait')
  assert.equal((await client.action('wait')).error, 'you have too many pending requests')
  release()
  assert.equal((await first).error, undefined)
})

test('blockedConnectionTypes refuses the action to those connections', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, {
    actions: [
      { name: 'webOnly', blockedConnectionTypes: ['webSocket'], run: () => ({ ok: true }) },
      { name: 'socketOnly', blockedConnectionTypes: ['web'], run: (_params, connection) => ({ type: connection.type }) }
    ]
  })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('webOnly')).error, 'this action does not support the webSocket connection type')
  assert.equal((await client.action('socketOnly')).type, 'webSocket')
})

test('the action gets the connection it was called from', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {
    actions: [{
      name: 'whoami',
      run: (_params, connection) => {
        if (connection.type !== 'webSocket') throw new Error('expected a socket')
        connection.send({ context: 'alert', note: 'pushed during the action' })
        return { id: connection.id, pending: connection.pendingActions }
      }
    }]
  })
  const client = await TestClient.connect(t, url)
  const reply = await client.action('whoami')
  assert.ok(app.actionheroWs.connections.has(reply.id as string))
  assert.equal(reply.pending, 1)
  assert.ok(client.messages.some((message) => message.note === 'pushed during the action'))
})

test('addAction works after start; duplicate and invalid definitions get coded errors', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { actions: [add] })
  const client = await TestClient.connect(t, url)
  assert.equal((await client.action('late')).error, 'unknown action or invalid apiVersion')
  app.actionheroWs.addAction({ name: 'late', run: () => ({ late: true }) })
  assert.equal((await client.action('late')).late, true)

  assert.throws(() => app.actionheroWs.addAction(add as ActionDefinition), { code: 'FST_AHWS_DUPLICATE_ACTION', message: 'an action named "add" is already defined' })
  const invalid: Array<[unknown, RegExp]> = [
    [null, /must be an object/],
    [{ run: () => {} }, /must have a non-empty string "name"/],
    [{ name: 'x' }, /action "x" must have a "run" function/],
    [{ name: 'x', run: () => {}, inputs: { type: 'string' } }, /"inputs" must be a JSON Schema of type object/],
    [{ name: 'x', run: () => {}, inputs: { type: 'object', properties: { a: { type: 'nonsense' } } } }, /action "x" has invalid inputs/],
    [{ name: 'x', run: () => {}, blockedConnectionTypes: ['carrierPigeon'] }, /"blockedConnectionTypes" must be an array of "webSocket", "web"/],
    [{ name: 'x', run: () => {}, description: 7 }, /"description" must be a string/]
  ]
  for (const [definition, message] of invalid) {
    assert.throws(() => app.actionheroWs.addAction(definition as ActionDefinition), (error: Error & { code?: string }) =>
      error.code === 'FST_AHWS_INVALID_ACTION' && message.test(error.message))
  }
})

test('an invalid action in the actions option fails register', { timeout: 30_000 }, async () => {
  const app = Fastify()
  app.register(actionheroWs, { clientJsName: null, actions: [{ name: 'broken' } as ActionDefinition] })
  await assert.rejects(async () => { await app.ready() }, { code: 'FST_AHWS_INVALID_ACTION' })
  await app.close()
})

test('two apps in one process keep their own actions and connections', { timeout: 30_000 }, async (t) => {
  const one = await startApp(t, { actions: [{ name: 'which', run: () => ({ app: 1 }) }] })
  const two = await startApp(t, { actions: [{ name: 'which', run: () => ({ app: 2 }) }, add] })
  const clientOne = await TestClient.connect(t, one.url)
  const clientTwo = await TestClient.connect(t, two.url)
  assert.equal((await clientOne.action('which')).app, 1)
  assert.equal((await clientTwo.action('which')).app, 2)
  assert.equal((await clientOne.action('add', { a: 1, b: 1 })).error, 'unknown action or invalid apiVersion')
  assert.equal(one.app.actionheroWs.connections.size, 1)
  assert.equal(two.app.actionheroWs.connections.size, 1)
  assert.notEqual(one.app.actionheroWs.primus, two.app.actionheroWs.primus)
})

test('a reply is valid JSON whatever the action returns: boxed primitives, toJSON, BigInt, cycles', { timeout: 30_000 }, async (t) => {
  const cycle: Record<string, unknown> = { name: 'loop' }
  cycle.self = cycle
  const results: Record<string, unknown> = {
    boxedString: new String('x'), // eslint-disable-line no-new-wrappers
    boxedNumber: new Number(5), // eslint-disable-line no-new-wrappers
    toJsonString: { toJSON: () => 'as text' },
    toJsonNothing: { toJSON: () => undefined },
    toJsonObject: { toJSON: () => ({ shaped: true, context: 'mine' }) },
    bigint: { big: 10n },
    cycle,
    throwingToJson: { toJSON: () => { throw new Error('no') } },
    deep: JSON.parse('['.repeat(100_000) + ']'.repeat(100_000))
  }
  const { url } = await startApp(t, { actions: Object.entries(results).map(([name, result]) => ({ name, run: () => result })) })
  const client = await TestClient.connect(t, url)
  const reply = async (name: string): Promise<Record<string, unknown>> => {
    const { context, messageCount, messageId, ...rest } = await client.action(name)
    assert.equal(context, 'response')
    assert.equal(typeof messageCount, 'number')
    assert.equal(typeof messageId, 'string')
    return rest
  }
  assert.deepEqual(await reply('boxedString'), { data: 'x' })
  assert.deepEqual(await reply('boxedNumber'), { data: 5 })
  assert.deepEqual(await reply('toJsonString'), { data: 'as text' })
  assert.deepEqual(await reply('toJsonNothing'), {})
  assert.deepEqual(await reply('toJsonObject'), { data: { shaped: true, context: 'mine' } })
  for (const name of ['bigint', 'cycle', 'throwingToJson', 'deep']) {
    assert.deepEqual(await reply(name), { error: 'the action returned a value that cannot be sent as JSON' }, name)
  }
})

test('action errors are logged as Fastify logs a failing route: error for a 5xx, info otherwise, with the connection and action', { timeout: 30_000 }, async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, {
    actions: [
      { name: 'broken', run: () => { throw new Error('database down') } },
      { name: 'picky', run: () => { throw Object.assign(new Error('not yours'), { statusCode: 403 }) } },
      { name: 'unencodable', run: () => ({ big: 1n }) },
      add
    ]
  }, { fastify: { logger: { level: 'info', stream } } })
  const client = await TestClient.connect(t, url)
  const { data: { id } } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  await client.action('broken')
  await client.action('picky')
  await client.action('add', { a: 1 })
  await client.action('unencodable')
  const logged = (message: string): Record<string, unknown> | undefined => lines.find((line) => line.msg === message)
  const broken = logged('database down')
  assert.deepEqual({ level: broken?.level, connection: broken?.connection, action: broken?.action, statusCode: broken?.statusCode },
    { level: 50, connection: id, action: 'broken', statusCode: 500 })
  assert.equal((broken?.err as { message?: string } | undefined)?.message, 'database down', 'with the error and its stack')
  assert.deepEqual({ level: logged('not yours')?.level, action: logged('not yours')?.action }, { level: 30, action: 'picky' })
  assert.deepEqual({ level: logged('b is a required parameter for this action')?.level, action: logged('b is a required parameter for this action')?.action },
    { level: 30, action: 'add' })
  const unencodable = lines.find((line) => line.action === 'unencodable')
  assert.equal(unencodable?.level, 50)

  // Over HTTP, with the request's logger.
  const response = await fetch(`${url}/api/broken`, { method: 'POST' })
  assert.equal(response.status, 500)
  const overHttp = lines.filter((line) => line.msg === 'database down')
  assert.equal(overHttp.length, 2)
  assert.equal(typeof overHttp[1]?.reqId, 'string')
})
