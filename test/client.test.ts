/**
 * The client in Node.js, against a real app, for what a browser cannot stage cheaply: timeouts, drops
 * with requests in flight, requests made while reconnecting, and what happens without a socket.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type ClientEvents, type ClientOptions } from '../lib/client/node.js'
import { defineAction, ERRORS } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'

const add = defineAction({
  name: 'add',
  inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } as const,
  run: ({ a, b }) => ({ sum: a + b })
})

const whoami = defineAction({ name: 'whoami', run: (params, connection) => ({ id: connection.id, type: connection.type }) })

/** An action that answers when the test says so (and at the latest when it ends). */
function heldAction (t: TestContext, name: string): { definition: ReturnType<typeof defineAction>, release: () => void } {
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  t.after(() => release())
  return { definition: defineAction({ name, run: async () => { await held; return { late: true } } }), release }
}

/** A client of `url` whose lifecycle events are recorded, disconnected when the test ends. */
function clientOf (t: TestContext, url: string, options: ClientOptions = {}): ActionheroClient & { events: string[] } {
  const client = Object.assign(new ActionheroClient({ url, reconnect: { min: 20, max: 100 }, ...options }), { events: [] as string[] })
  for (const event of ['connected', 'disconnected', 'reconnecting', 'reconnect', 'timeout'] as const) {
    client.on(event, () => client.events.push(event))
  }
  t.after(() => client.disconnect())
  return client
}

function nextEvent<Event extends keyof ClientEvents> (client: ActionheroClient, event: Event): Promise<ClientEvents[Event]> {
  return new Promise((resolve) => client.once(event, (...args) => resolve(args)))
}

test('connect, then every verb with a callback and as a Promise', async (t) => {
  const { url } = await startApp(t, { actions: [add] })
  const client = clientOf(t, url)
  const details = await new Promise<unknown>((resolve, reject) => client.connect((error, reply) => error === null ? resolve(reply) : reject(error)))
  assert.equal((details as { data: { id: string } }).data.id, client.id)
  assert.equal(client.state, 'connected')
  assert.equal(client.welcomeMessage, 'Hello! Welcome to the actionhero api')

  assert.equal((await new Promise<{ sum?: number }>((resolve) => client.action('add', { a: 1, b: 2 }, resolve))).sum, 3)
  assert.equal((await client.action<{ sum: number }>('add', { a: 2, b: 2 })).sum, 4)
  assert.deepEqual(await client.documentation(), {
    status: 'OK', context: 'response', messageCount: 5, messageId: 5, data: { add: { name: 'add', description: null, inputs: add.inputs } }
  })
  assert.equal((await client.roomAdd('defaultRoom')).data, true)
  assert.equal((await client.say('defaultRoom', 'hi')).status, 'OK')
  assert.equal((await client.roomView('defaultRoom')).data?.membersCount, 1)
  assert.equal((await client.file('nothing-here.txt')).error, 'That file is not found')
  assert.equal((await client.connect()).data?.id, client.id, 'connect() when connected answers with the details')
})

test('a request unanswered within options.timeout is answered once with an error; its late reply is ignored', async (t) => {
  const slow = heldAction(t, 'slow')
  const { url } = await startApp(t, { actions: [slow.definition, add] })
  const client = clientOf(t, url, { timeout: 200 })
  const late: unknown[] = []
  client.on('message', (message) => { if ('late' in message) late.push(message) })
  await client.connect()

  const answers: unknown[] = []
  client.action('slow', (response) => answers.push(response))
  await waitFor(() => answers.length === 1)
  // Ids 1 and 2 went to pushesSince and detailsView, at connect.
  assert.deepEqual(answers, [{ context: 'response', messageId: 3, error: ERRORS.requestTimedOut }])

  slow.release()
  // One socket keeps order: the late reply comes before the reply to a later request.
  assert.equal((await client.action<{ sum: number }>('add', { a: 1, b: 1 })).sum, 2)
  assert.equal(late.length, 1, 'the late reply did arrive')
  assert.equal(answers.length, 1, 'and was not given to the callback a second time')
})

test('requests in flight when the connection drops are answered with an error; the client reconnects', async (t) => {
  const hang = heldAction(t, 'hang')
  const { app, url } = await startApp(t, { actions: [hang.definition] })
  const client = clientOf(t, url)
  await client.connect()
  const firstId = client.id ?? ''

  const answers: unknown[] = []
  client.action('hang', (response) => answers.push(response))
  client.action('hang', (response) => answers.push(response))
  await waitFor(() => app.actionheroWs.connections.get(firstId)?.pendingActions === 2)
  const reconnected = nextEvent(client, 'connected')
  app.actionheroWs.connections.get(firstId)?.drop()
  await reconnected

  assert.deepEqual(answers, [
    { context: 'response', messageId: 3, error: ERRORS.connectionClosed },
    { context: 'response', messageId: 4, error: ERRORS.connectionClosed }
  ])
  assert.notEqual(client.id, firstId)
  assert.deepEqual(client.events, ['connected', 'disconnected', 'reconnecting', 'reconnect', 'connected'])
})

test('requests made while reconnecting wait, then go in order once the connection is back and its rooms joined', async (t) => {
  const { app, url } = await startApp(t, { actions: [whoami] })
  const listener = await TestClient.connect(t, url)
  await listener.request({ event: 'roomAdd', room: 'defaultRoom' })
  const client = clientOf(t, url)
  await client.connect()
  await client.roomAdd('defaultRoom')
  const firstId = client.id ?? ''

  const reconnecting = nextEvent(client, 'reconnecting')
  app.actionheroWs.connections.get(firstId)?.drop()
  await reconnecting
  assert.equal(client.state, 'reconnecting')
  const [said, who] = await Promise.all([client.say('defaultRoom', 'while I was away'), client.action<{ id: string }>('whoami')])

  assert.equal(said.status, 'OK', 'the say waited for the room to be joined again')
  assert.equal(who.id, client.id)
  assert.notEqual(client.id, firstId)
  assert.deepEqual(client.rooms, ['defaultRoom'])
  const heard = await listener.next((message) => message.context === 'user' && message.message === 'while I was away')
  assert.equal(heard.from, client.id)
  assert.deepEqual(client.events, ['connected', 'disconnected', 'reconnecting', 'reconnect', 'connected'])
})

test('without a socket, verbs are refused at once and actions go over HTTP to apiPath', async (t) => {
  const { url } = await startApp(t, { actions: [add, whoami] })
  const client = clientOf(t, url)
  assert.equal(client.state, 'disconnected')
  assert.deepEqual(await client.roomAdd('defaultRoom'), { context: 'response', error: ERRORS.notConnected, status: ERRORS.notConnected })
  assert.deepEqual(await client.action('add', { a: 1, b: 2 }), { sum: 3, context: 'response' })
  assert.equal((await client.action('add', { a: 1 })).error, 'b is a required parameter for this action')
  assert.equal((await client.action<{ type: string }>('whoami')).type, 'web')

  await client.connect()
  assert.equal((await client.action<{ type: string }>('whoami')).type, 'webSocket')
  client.disconnect()
  assert.equal((await client.action<{ type: string }>('whoami')).type, 'web')

  const noHttp = clientOf(t, url, { apiPath: false })
  assert.equal((await noHttp.action('add', { a: 1, b: 2 })).error, ERRORS.notConnected)
})

test('the server ending the connection for good stops the client: no reconnect, nothing left waiting', async (t) => {
  const hang = heldAction(t, 'hang')
  const { app, url } = await startApp(t, { actions: [hang.definition], destroyClientsOnShutdown: true, shutdownTimeout: 50 })
  const client = clientOf(t, url)
  await client.connect()
  const pending = client.action('hang')
  await waitFor(() => app.actionheroWs.connections.get(client.id ?? '')?.pendingActions === 1)

  await app.close()
  assert.equal((await pending).error, ERRORS.connectionClosed)
  assert.equal(client.state, 'disconnected')
  assert.deepEqual(client.events, ['connected', 'disconnected'])
})

test('a refused handshake fails connect(): the callback gets the error, the Promise rejects', async (t) => {
  const { url } = await startApp(t, { authorize: () => { throw new Error('not you') } })
  const options = { reconnect: { min: 10, max: 20, retries: 1 } }
  const viaCallback = await new Promise<Error | null>((resolve) => clientOf(t, url, options).connect((error) => resolve(error)))
  assert.match(String(viaCallback), /401/)
  const client = clientOf(t, url, options)
  await assert.rejects(client.connect(), /401/)
  assert.equal(client.state, 'disconnected')
})

test('pushes from server code reach welcome, alert, api and say', async (t) => {
  const { app, url } = await startApp(t)
  const client = clientOf(t, url)
  const welcome = nextEvent(client, 'welcome')
  await client.connect()
  assert.deepEqual(await welcome, [{ context: 'api', welcome: 'Hello! Welcome to the actionhero api' }])
  await client.roomAdd('defaultRoom')
  const connection = app.actionheroWs.connections.get(client.id ?? '')

  const alert = nextEvent(client, 'alert')
  connection?.send({ context: 'alert', text: 'maintenance at noon' })
  assert.deepEqual(await alert, [{ context: 'alert', text: 'maintenance at noon' }])
  const api = nextEvent(client, 'api')
  connection?.send({ hello: 'there' })
  assert.deepEqual(await api, [{ hello: 'there' }])
  const say = nextEvent(client, 'say')
  await app.actionheroWs.rooms.broadcast('defaultRoom', 'from the server')
  const [chat] = await say
  assert.deepEqual({ from: chat.from, message: chat.message }, { from: 0, message: 'from the server' })
})

test('client.rooms is current when roomAdd and roomLeave answer, and loses a room the server destroys', async (t) => {
  const { app, url } = await startApp(t, { rooms: ['lobby', 'games'] })
  const client = clientOf(t, url)
  await client.connect()
  await new Promise<void>((resolve) => client.roomAdd('lobby', () => {
    assert.deepEqual(client.rooms, ['lobby'])
    resolve()
  }))
  assert.equal((await client.roomAdd('lobby')).error, ERRORS.alreadyInRoom)
  assert.equal((await client.roomAdd('nowhere')).error, ERRORS.roomNotFound)
  await client.roomAdd('games')
  assert.deepEqual(client.rooms, ['lobby', 'games'])
  await new Promise<void>((resolve) => client.roomLeave('lobby', () => {
    assert.deepEqual(client.rooms, ['games'])
    resolve()
  }))

  const notice = nextEvent(client, 'say')
  await app.actionheroWs.rooms.destroy('games')
  assert.equal((await notice)[0].message, ERRORS.roomDeleted)
  assert.deepEqual(client.rooms, [])
})
