/**
 * The client as ActionHero's own tests used it: handed a Primus socket of the caller's, and as the
 * EventEmitter v11's client was (with the listeners of each instance its own).
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient } from '../lib/client/node.js'
import type { PrimusSocket, PushMessage } from '../lib/index.js'
import { primusClient, startApp, waitFor } from './helpers.js'

/** A Primus socket of the test's own, as v11's tests made with `api.servers.servers.websocket.server.Socket`. */
function ownSocket (t: TestContext, url: string): PrimusSocket {
  const socket = new (primusClient())(url, { strategy: false })
  t.after(() => socket.end())
  return socket
}

function opened (socket: PrimusSocket): Promise<void> {
  return new Promise((resolve) => socket.once('open', () => resolve()))
}

/** How many listeners the client left on a socket, by event. */
function listenersOn (socket: PrimusSocket): number {
  const emitter = socket as unknown as { eventNames (): string[], listenerCount (event: string): number }
  return emitter.eventNames().reduce((count, event) => count + emitter.listenerCount(event), 0)
}

test('a client given a connecting socket uses it: no second connection, the welcome heard', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { actions: [{ name: 'whoami', run: (_params, connection) => ({ id: connection.id }) }] })
  const socket = ownSocket(t, url)
  const client = new ActionheroClient({ url }, socket)
  t.after(() => client.disconnect())
  const details = await client.connect()
  assert.equal(client.state, 'connected')
  assert.equal(app.actionheroWs.connections.size, 1, 'the client opened no socket of its own')
  assert.equal(details.data?.id, [...app.actionheroWs.connections.keys()][0])
  assert.equal(client.welcomeMessage, 'Hello! Welcome to the actionhero api')
  assert.equal((await client.action<{ id: string }>('whoami')).id, client.id)
})

test('a client given an open socket takes it over as it is, and connect() answers with its details', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const socket = ownSocket(t, url)
  await opened(socket)
  const before = listenersOn(socket)
  const client = new ActionheroClient({ url }, socket)
  t.after(() => client.disconnect())
  const connected = new Promise<void>((resolve) => client.once('connected', resolve))
  await connected
  assert.equal(client.state, 'connected', 'connected without connect(): the socket was open')
  assert.equal((await client.connect()).data?.id, client.id)
  assert.equal(app.actionheroWs.connections.size, 1)
  assert.equal((await client.roomAdd('defaultRoom')).data, true)
  assert.deepEqual(app.actionheroWs.connections.get(client.id ?? '')?.rooms, ['defaultRoom'])

  client.disconnect()
  assert.equal(client.state, 'disconnected')
  assert.equal(listenersOn(socket), before, 'disconnect() takes the client\'s listeners off the socket')
  await waitFor(() => app.actionheroWs.connections.size === 0)

  // connect() again opens the same socket; the room is joined again, and every message is handled once.
  const again = await client.connect()
  assert.equal(app.actionheroWs.connections.size, 1)
  // (Messages of the test's own Primus client are decoded in its vm realm: copied here for deepEqual.)
  assert.deepEqual([...again.data?.rooms ?? []], ['defaultRoom'])
  const heard: unknown[] = []
  client.on('say', (message) => heard.push(message.message))
  await app.actionheroWs.rooms.broadcast('defaultRoom', 'once')
  await waitFor(() => heard.length > 0)
  assert.equal((await client.roomView('defaultRoom')).data?.membersCount, 1)
  assert.deepEqual(heard, ['once'])
})

test('the EventEmitter methods of v11\'s client, each instance with listeners of its own', () => {
  const a = new ActionheroClient({ url: 'http://127.0.0.1:1' })
  const b = new ActionheroClient({ url: 'http://127.0.0.1:1' })
  const heard: string[] = []
  const onAlert = (message: PushMessage): void => { heard.push(`a:${String(message.text)}`) }
  const onApi = (): void => { heard.push('a:api') }
  assert.equal(a.addListener('alert', onAlert), a)
  a.on('api', onApi)
  b.once('alert', () => heard.push('b'))
  assert.deepEqual(a.listeners('alert'), [onAlert])
  assert.deepEqual(a.eventNames(), ['alert', 'api'])
  assert.deepEqual(b.eventNames(), ['alert'])
  assert.equal(a.emit('alert', { context: 'alert', text: 'hi' }), true)
  assert.deepEqual(heard, ['a:hi'], 'one instance\'s emit does not reach another\'s listeners (v11 shared them)')
  assert.equal(b.emit('alert', { context: 'alert' }), true)
  assert.equal(b.emit('alert', { context: 'alert' }), false, 'a once listener is gone')
  assert.deepEqual(b.eventNames(), [])
  a.off('alert', onAlert)
  assert.deepEqual(a.listeners('alert'), [])
  assert.equal(a.listenerCount('api'), 1)
  a.removeAllListeners()
  assert.deepEqual(a.eventNames(), [])
})
