/**
 * Room history with the memory store (issue 12): offsets and epochs on every room message, the
 * room's position in the `roomAdd` reply, `since` replay without a gap or a repeat while messages keep
 * coming, a new epoch when the history is lost, the `size` and `ttl` bounds, and `roomHistory`.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { ChatMessage } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { MemoryHistory } from '../lib/rooms/history.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>

const ROOM = 'defaultRoom'

async function joined (t: TestContext, url: string, since?: unknown): Promise<{ client: TestClient, reply: Message }> {
  const client = await TestClient.connect(t, url)
  const reply = await client.request({ event: 'roomAdd', room: ROOM, since })
  assert.equal(reply.error, undefined)
  return { client, reply }
}

const chats = (client: TestClient, room = ROOM): Message[] => client.messages.filter((m) => m.context === 'user' && m.room === room)
const offsets = (messages: Message[]): number[] => messages.map((m) => m.offset as number)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Says `count` messages `prefix0`... and waits until `listener` heard the last one. */
async function sayMany (sender: TestClient, listener: TestClient, count: number, prefix = 'm'): Promise<void> {
  for (let i = 0; i < count; i++) assert.equal((await sender.request({ event: 'say', room: ROOM, message: `${prefix}${i}` })).status, 'OK')
  await listener.next((m) => m.context === 'user' && m.message === `${prefix}${count - 1}`)
}

test('every room message carries its room\'s epoch and an offset one more than the last; roomAdd answers the position', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const { client: alice, reply: first } = await joined(t, url)
  assert.equal(first.offset, 0, 'a room without messages is at 0')
  const { client: bob } = await joined(t, url)
  await sayMany(alice, bob, 3)
  await app.actionheroWs.rooms.broadcast(ROOM, 'from the server')
  await bob.next((m) => m.message === 'from the server')
  const heard = chats(bob)
  assert.deepEqual(offsets(heard), [1, 2, 3, 4], 'says and broadcasts share one sequence')
  assert.ok(heard.every((m) => m.epoch === first.epoch))
  const { reply: later } = await joined(t, url)
  assert.deepEqual([later.epoch, later.offset], [first.epoch, 4])
  // Another room has its own sequence.
  const other = await alice.request({ event: 'roomAdd', room: 'anotherRoom' })
  assert.equal(other.offset, 0)
  assert.notEqual(other.epoch, first.epoch)
})

test('roomAdd with since replays what was missed, as it was sent, in order, before the reply that says recovered', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const { client: alice } = await joined(t, url)
  const { client: bob, reply } = await joined(t, url)
  await sayMany(alice, bob, 2, 'before')
  const position = { epoch: reply.epoch, offset: 2 }
  bob.end()
  const { client: carol } = await joined(t, url)
  await sayMany(alice, carol, 5, 'missed')

  const back = await TestClient.connect(t, url)
  const rejoined = await back.request({ event: 'roomAdd', room: ROOM, since: position })
  assert.equal(rejoined.recovered, true)
  assert.deepEqual([rejoined.epoch, rejoined.offset], [reply.epoch, 7])
  const replayed = chats(back)
  assert.deepEqual(replayed, chats(carol), 'the same messages as a member heard live: offset, from, sentAt and all')
  assert.deepEqual(replayed.map((m) => m.message), ['missed0', 'missed1', 'missed2', 'missed3', 'missed4'])
  const replyIndex = back.messages.findIndex((m) => m.context === 'response' && m.recovered === true)
  assert.ok(back.messages.indexOf(replayed.at(-1) as Message) < replyIndex, 'the replay comes before the reply')

  // Up to date: nothing to replay, still recovered.
  const current = await TestClient.connect(t, url)
  const none = await current.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 7 } })
  assert.equal(none.recovered, true)
  assert.deepEqual(chats(current), [])
})

test('messages said during a replay follow it: no gap, no repeat, in order', { timeout: 60_000 }, async (t) => {
  // 100 says as fast as they are answered: past the say budget.
  const { app, url } = await startApp(t, { sayLimit: false })
  // A slow `say` middleware makes each replayed message take a turn of the event loop, so that live
  // messages arrive while the replay is being written.
  app.actionheroWs.rooms.use({ name: 'slow', say: async () => { await new Promise((resolve) => setImmediate(resolve)) } })
  const { client: alice } = await joined(t, url)
  const { client: listener, reply } = await joined(t, url)
  await sayMany(alice, listener, 50, 'early')

  const total = 150
  const saying = (async () => { for (let i = 0; i < 100; i++) await alice.request({ event: 'say', room: ROOM, message: `live${i}` }) })()
  await listener.next((m) => m.message === 'live10')
  const back = await TestClient.connect(t, url)
  const rejoined = await back.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 5 } })
  await saying
  assert.equal(rejoined.recovered, true)
  await waitFor(() => chats(back).length >= total - 5 || chats(back).some((m) => m.offset === total), 10_000)
  await back.request({ event: 'detailsView' }) // a marker: anything after the last message would be here by now
  assert.deepEqual(offsets(chats(back)), range(6, total))
  assert.ok(back.messages.some((m) => m.context === 'user' && m.message === 'live99'))
})

test('a destroyed and created again room has a new epoch: since the old one, recovered false and nothing replayed', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { rooms: ['lobby'] })
  const alice = await TestClient.connect(t, url)
  const old = await alice.request({ event: 'roomAdd', room: 'lobby' })
  await alice.request({ event: 'say', room: 'lobby', message: 'hi' })
  await app.actionheroWs.rooms.destroy('lobby')
  await app.actionheroWs.rooms.add('lobby')
  const back = await TestClient.connect(t, url)
  const rejoined = await back.request({ event: 'roomAdd', room: 'lobby', since: { epoch: old.epoch, offset: 0 } })
  assert.equal(rejoined.recovered, false)
  assert.notEqual(rejoined.epoch, old.epoch)
  assert.equal(rejoined.offset, 0)
  assert.deepEqual(chats(back, 'lobby'), [])
})

test('recovered is false, with nothing replayed, when the gap is longer than history.size or older than history.ttl', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { history: { size: 5, ttl: 400 } })
  const { client: alice } = await joined(t, url)
  const { client: bob, reply } = await joined(t, url)
  await sayMany(alice, bob, 8)
  const tooFar = await TestClient.connect(t, url)
  assert.equal((await tooFar.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 2 } })).recovered, false, '3 of 6 missed are gone')
  assert.deepEqual(chats(tooFar), [])
  const justInside = await TestClient.connect(t, url)
  assert.equal((await justInside.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 3 } })).recovered, true)
  assert.deepEqual(offsets(chats(justInside)), [4, 5, 6, 7, 8])
  const ahead = await TestClient.connect(t, url)
  assert.equal((await ahead.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 9 } })).recovered, false, 'an offset the room never had')

  await sleep(500) // past the ttl: waiting is what is tested
  const late = await TestClient.connect(t, url)
  const lateReply = await late.request({ event: 'roomAdd', room: ROOM, since: { epoch: reply.epoch, offset: 7 } })
  assert.equal(lateReply.recovered, false)
  assert.deepEqual(chats(late), [])
  assert.deepEqual(lateReply.offset, 8, 'the position stays with the room')
  assert.deepEqual((await late.request({ event: 'roomHistory', room: ROOM })).data, [])
})

test('roomHistory: the last messages, at most limit, for members only', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const { client: alice } = await joined(t, url)
  const { client: bob } = await joined(t, url)
  await sayMany(alice, bob, 4)
  const all = await bob.request({ event: 'roomHistory', room: ROOM })
  assert.deepEqual(all.data, chats(bob))
  const last = await bob.request({ event: 'roomHistory', room: ROOM, limit: 2 })
  assert.deepEqual((last.data as Message[]).map((m) => m.message), ['m2', 'm3'])
  for (const limit of [0, -1, 1.5, 'two']) {
    assert.equal((await bob.request({ event: 'roomHistory', room: ROOM, limit })).error, '`limit` must be a positive integer')
  }
  const outsider = await TestClient.connect(t, url)
  const refused = await outsider.request({ event: 'roomHistory', room: ROOM })
  assert.equal(refused.error, `not member of room ${ROOM}`)
  assert.equal((await outsider.request({ event: 'roomHistory' })).error, 'a room is required')
})

test('history: false: no offset, no epoch, no replay, an empty roomHistory', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { history: false })
  const { client: alice, reply } = await joined(t, url)
  assert.deepEqual(Object.keys(reply).sort(), ['context', 'data', 'messageCount', 'messageId', 'status'])
  const { client: bob } = await joined(t, url)
  await sayMany(alice, bob, 1)
  assert.deepEqual(Object.keys(chats(bob)[0] ?? {}), ['context', 'room', 'from', 'message', 'sentAt'])
  const back = await TestClient.connect(t, url)
  assert.equal((await back.request({ event: 'roomAdd', room: ROOM, since: { epoch: 'x', offset: 0 } })).recovered, undefined)
  assert.deepEqual((await bob.request({ event: 'roomHistory', room: ROOM })).data, [])
})

test('the memory history never holds more than size per room, and one sweep empties rooms past the ttl', { timeout: 30_000 }, async () => {
  const history = new MemoryHistory({ size: 3, ttl: 200, maxBytes: 1024 * 1024 })
  history.start()
  try {
    const message = (room: string, n: number): ChatMessage => ({ context: 'user', room, from: 'a', message: n, sentAt: Date.now() })
    for (let room = 0; room < 50; room++) for (let n = 0; n < 10; n++) history.append(`r${room}`, message(`r${room}`, n))
    assert.equal(history.size, 150, 'size messages per room')
    assert.deepEqual((await history.recent('r7', 10)).map((m) => m.offset), [8, 9, 10])
    // No room is read or written from here: only the sweep can empty them.
    await waitFor(() => history.size === 0, 5000)
    assert.deepEqual(await history.position('r7'), { epoch: (await history.position('r7')).epoch, offset: 10 })
  } finally {
    history.stop()
  }
})

test('the history option is checked at register', () => {
  assert.deepEqual(resolveOptions({ history: { size: 10 } }).history, { size: 10, ttl: 120_000, maxBytes: 1024 * 1024 })
  assert.throws(() => resolveOptions({ history: { maxBytes: 0 } }), /history\.maxBytes/)
  assert.equal(resolveOptions({ history: false }).history, false)
  assert.throws(() => resolveOptions({ history: { size: 0 } }), /history\.size/)
  assert.throws(() => resolveOptions({ history: { ttl: 1.5 } }), /history\.ttl/)
  assert.throws(() => resolveOptions({ history: { sizes: 1 } }), /history\.sizes/)
  assert.throws(() => resolveOptions({ history: true }), /history/)
})
