/**
 * The package client and room history (issue 12): it keeps a position per room, rejoins with `since`
 * after a reconnect, delivers what it missed as ordinary `say` events, never twice, and tells how
 * each room went with `recovered`. The connection is cut by a TCP proxy between client and app.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type ChatMessage, type RoomRecovery } from '../lib/client/node.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { startApp, TestClient, waitFor, type RunningApp } from './helpers.js'

const ROOM = 'defaultRoom'

interface Setup {
  running: RunningApp
  proxy: FaultProxy
  client: ActionheroClient
  said: ChatMessage[]
  recoveries: RoomRecovery[]
  sender: TestClient
}

/** An app, a client through a proxy in `ROOM` (and the other rooms given), and a sender in those rooms. */
async function setup (t: TestContext, rooms: string[] = [ROOM]): Promise<Setup> {
  const running = await startApp(t, { rooms: [ROOM, 'anotherRoom'] })
  const proxy = await FaultProxy.start(running.port)
  t.after(() => proxy.close())
  const client = new ActionheroClient({ url: `http://127.0.0.1:${proxy.port}`, reconnect: { min: 20, max: 100, retries: 1000 } })
  t.after(() => client.disconnect())
  const said: ChatMessage[] = []
  const recoveries: RoomRecovery[] = []
  client.on('say', (message) => said.push(message))
  client.on('recovered', (recovery) => recoveries.push(recovery))
  await client.connect()
  for (const room of rooms) assert.equal((await client.roomAdd(room)).data, true)
  const sender = await TestClient.connect(t, running.url)
  for (const room of rooms) await sender.request({ event: 'roomAdd', room })
  return { running, proxy, client, said, recoveries, sender }
}

async function say (sender: TestClient, room: string, messages: string[]): Promise<void> {
  for (const message of messages) assert.equal((await sender.request({ event: 'say', room, message })).status, 'OK')
}

/** Cuts the client's connection and waits until the server has let it go. */
async function cut ({ running, proxy, client }: Setup): Promise<void> {
  const id = String(client.id)
  proxy.cut()
  await waitFor(() => !running.app.actionheroWs.connections.has(id), 10_000)
}

const texts = (said: ChatMessage[], room = ROOM): unknown[] => said.filter((m) => m.room === room).map((m) => m.message)

test('after a reconnect the client has every message said meanwhile, once, in order, and hears recovered per room', { timeout: 60_000 }, async (t) => {
  const context = await setup(t, [ROOM, 'anotherRoom'])
  const { proxy, client, said, recoveries, sender } = context
  await say(sender, ROOM, ['a1', 'a2'])
  await waitFor(() => said.length === 2)
  await cut(context)
  await say(sender, ROOM, ['b1', 'b2', 'b3', 'b4', 'b5'])
  await say(sender, 'anotherRoom', ['other1', 'other2'])
  const reconnected = new Promise((resolve) => client.once('connected', () => resolve(undefined)))
  proxy.heal()
  await reconnected
  assert.deepEqual(recoveries, [{ room: ROOM, recovered: true }, { room: 'anotherRoom', recovered: true }], 'before connected, each room once')
  await say(sender, ROOM, ['c1'])
  await waitFor(() => said.some((m) => m.message === 'c1'))
  assert.deepEqual(texts(said), ['a1', 'a2', 'b1', 'b2', 'b3', 'b4', 'b5', 'c1'])
  assert.deepEqual(texts(said, 'anotherRoom'), ['other1', 'other2'])
  assert.deepEqual(said.filter((m) => m.room === ROOM).map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7, 8])
  const history = await client.roomHistory(ROOM, 3)
  assert.deepEqual(history.data, said.filter((m) => m.room === ROOM).slice(-3), 'roomHistory: the last messages, as they were delivered')

  // A second flap starts from where the first ended.
  await cut(context)
  await say(sender, ROOM, ['d1'])
  proxy.heal()
  await waitFor(() => recoveries.length === 4, 20_000)
  assert.deepEqual(texts(said).slice(-2), ['c1', 'd1'])
})

test('a room message the client already delivered is dropped, whoever sends it again', { timeout: 30_000 }, async (t) => {
  const { running, client, said, sender } = await setup(t)
  await say(sender, ROOM, ['first', 'second'])
  await waitFor(() => said.length === 2)
  const connection = running.app.actionheroWs.connections.get(String(client.id))
  assert.ok(connection !== undefined)
  // Server code sends the first one again (as a replay racing a live delivery would).
  connection.send({ ...said[0] })
  await say(sender, ROOM, ['marker'])
  await waitFor(() => said.some((m) => m.message === 'marker'))
  assert.deepEqual(texts(said), ['first', 'second', 'marker'])
})

test('a room whose history was lost meanwhile: recovered false, and the client follows the new epoch', { timeout: 60_000 }, async (t) => {
  const context = await setup(t)
  const { running, proxy, client, said, recoveries, sender } = context
  await say(sender, ROOM, ['old'])
  await waitFor(() => said.length === 1)
  await cut(context)
  await running.app.actionheroWs.rooms.destroy(ROOM)
  await running.app.actionheroWs.rooms.add(ROOM)
  await sender.request({ event: 'roomAdd', room: ROOM })
  await say(sender, ROOM, ['lost'])
  proxy.heal()
  await waitFor(() => recoveries.length === 1, 20_000)
  assert.deepEqual(recoveries, [{ room: ROOM, recovered: false }])
  assert.deepEqual(client.rooms, [ROOM])
  await say(sender, ROOM, ['new'])
  await waitFor(() => said.some((m) => m.message === 'new'))
  assert.deepEqual(texts(said), ['old', 'new'], 'nothing replayed; offset 2 of the new epoch is not taken for a repeat')
  assert.equal(said.at(-1)?.offset, 2)
})
