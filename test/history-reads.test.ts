/**
 * Reading a room's history (issue 18, item 3): `roomHistory` has a default and a maximum `limit`,
 * goes through each receiver's `say` middleware as live messages and the `since` replay do, and every
 * replay is written as the member reads it: a member that reads is never cut as a slow reader for
 * asking, however much the room holds and however many times it asks. Memory store and Redis.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { ChatMessage } from '../lib/index.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'
import { PacedReader } from './paced-reader.js'
import { ROOM_STORES } from './room-stores.js'

type Message = Record<string, unknown>
const ROOM = 'defaultRoom'
const KiB = 1024

const idOf = async (client: TestClient): Promise<string> => (await client.request({ event: 'detailsView' }) as { data: { id: string } }).data.id
const history = async (client: TestClient, limit?: number): Promise<Message> => await client.request({ event: 'roomHistory', room: ROOM, limit })
const texts = (reply: Message): unknown[] => (reply.data as ChatMessage[]).map((m) => m.message)

/** Fills the room's history with `count` messages of `size` bytes each, broadcast by the server (no say budget). */
async function fill (app: FastifyInstance, count: number, size: number): Promise<void> {
  for (let n = 0; n < count; n++) await app.actionheroWs.rooms.broadcast(ROOM, `${n}:`.padEnd(size, 'x'))
}

for (const store of ROOM_STORES) {
  test(`${store.name}: roomHistory goes through the say middleware: a whisper a member never heard live does not come back to her`, { timeout: 30_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    const { app, url } = await startApp(t, options)
    const [alice, bob, carol] = [await TestClient.connect(t, url), await TestClient.connect(t, url), await TestClient.connect(t, url)]
    for (const client of [alice, bob, carol]) assert.equal((await client.request({ event: 'roomAdd', room: ROOM })).data, true)
    const bobId = await idOf(bob)
    app.actionheroWs.rooms.use({
      name: 'whisper',
      say: (receiver, _room, payload) => {
        const { to } = payload.message as { to?: string }
        if (to !== undefined && receiver.id !== to) return null
      }
    })
    await alice.request({ event: 'say', room: ROOM, message: { to: bobId, text: 'psst' } })
    await alice.request({ event: 'say', room: ROOM, message: { text: 'hello all' } })
    await carol.next((m) => m.context === 'user' && (m.message as Message).text === 'hello all')
    assert.equal(carol.messages.some((m) => (m.message as Message | undefined)?.text === 'psst'), false, 'not heard live')
    assert.deepEqual(texts(await history(carol)), [{ text: 'hello all' }])
    assert.deepEqual(texts(await history(bob)), [{ to: bobId, text: 'psst' }, { text: 'hello all' }])
  })

  test(`${store.name}: roomHistory answers 50 messages without a limit, and at most 100 (or history.size): a larger limit is capped`, { timeout: 60_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    const { app, url } = await startApp(t, { ...options, history: { size: 120 } })
    for (let n = 0; n < 120; n++) await app.actionheroWs.rooms.broadcast(ROOM, n)
    const client = await TestClient.connect(t, url)
    await client.request({ event: 'roomAdd', room: ROOM })
    const newest = (count: number): number[] => Array.from({ length: count }, (_, n) => 120 - count + n)
    assert.deepEqual(texts(await history(client)), newest(50))
    assert.deepEqual(texts(await history(client, 1000)), newest(100))
    assert.deepEqual(texts(await history(client, 7)), newest(7))
    assert.equal((await history(client, 0)).error, '`limit` must be a positive integer')

    const small = await startApp(t, { ...options, history: { size: 30 } })
    for (let n = 0; n < 40; n++) await small.app.actionheroWs.rooms.broadcast(ROOM, n)
    const other = await TestClient.connect(t, small.url)
    await other.request({ event: 'roomAdd', room: ROOM })
    assert.deepEqual(texts(await history(other, 1000)), Array.from({ length: 30 }, (_, n) => 10 + n))
  })

  test(`${store.name}: a member that reads is not cut by roomHistory when the room holds more than maxBufferedBytes: it gets the newest messages that fit`, { timeout: 60_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    // 8 MiB: more than the kernel's buffers take at once (and than history.maxBytes keeps by default).
    const { app, url } = await startApp(t, { ...options, maxBufferedBytes: 1024 * KiB, history: { maxBytes: 16 * 1024 * KiB } })
    await fill(app, 80, 100 * KiB)
    const client = await TestClient.connect(t, url)
    await client.request({ event: 'roomAdd', room: ROOM })
    const reply: Message = await Promise.race([history(client, 100), client.closed().then(() => ({ closed: true }))])
    assert.equal(reply.status, 'OK', 'answered, not cut')
    const got = texts(reply) as string[]
    assert.ok(got.length >= 4 && got.length <= 5, `the newest that fit in half of maxBufferedBytes: got ${got.length}`)
    assert.deepEqual(got.map((text) => text.split(':')[0]), Array.from({ length: got.length }, (_, n) => String(80 - got.length + n)))
    assert.equal((await client.request({ event: 'detailsView' })).status, 'OK', 'still connected')
    assert.equal(app.actionheroWs.connections.size, 1)
  })

  test(`${store.name}: a rejoin with since replays more than maxBufferedBytes to a member reading at 4 MiB/s, which stays connected and gets it all in order`, { timeout: 60_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    // 8 MiB kept: more than history.maxBytes lets a room keep by default (1 MiB).
    const { app, url, port } = await startApp(t, { ...options, maxBufferedBytes: 512 * KiB, history: { maxBytes: 16 * 1024 * KiB } })
    await fill(app, 80, 100 * KiB)
    const { epoch } = await (await TestClient.connect(t, url)).request({ event: 'roomAdd', room: ROOM }) as { epoch: string }
    const reader = await PacedReader.connect(t, port, 4096 * KiB)
    await waitFor(() => app.actionheroWs.connections.size === 2)
    reader.send({ event: 'roomAdd', room: ROOM, since: { epoch, offset: 0 }, messageId: 'rejoin' })
    await waitFor(() => !reader.open || reader.messages.some((m) => m.messageId === 'rejoin'), 30_000)
    assert.equal(reader.open, true, 'not cut as a slow reader')
    const replayed = reader.messages.filter((m) => m.context === 'user').map((m) => String(m.message).split(':')[0])
    assert.deepEqual(replayed, Array.from({ length: 80 }, (_, n) => String(n)))
    assert.equal(reader.messages.find((m) => m.messageId === 'rejoin')?.recovered, true)
    reader.close()
  })
}

test('a member reading at 4 MiB/s that asks roomHistory 20 times at once gets every answer, in order, and stays connected', { timeout: 60_000 }, async (t) => {
  const { app, port } = await startApp(t, { maxBufferedBytes: 512 * KiB })
  await fill(app, 20, 100 * KiB)
  const reader = await PacedReader.connect(t, port, 4096 * KiB)
  await waitFor(() => app.actionheroWs.connections.size === 1)
  reader.send({ event: 'roomAdd', room: ROOM, messageId: 'join' })
  await waitFor(() => reader.messages.some((m) => m.messageId === 'join'))
  for (let n = 0; n < 20; n++) reader.send({ event: 'roomHistory', room: ROOM, limit: 100, messageId: n })
  await waitFor(() => !reader.open || reader.messages.filter((m) => typeof m.messageId === 'number').length === 20, 40_000)
  assert.equal(reader.open, true, 'not cut as a slow reader')
  const answers = reader.messages.filter((m) => typeof m.messageId === 'number')
  assert.deepEqual(answers.map((m) => m.messageId), Array.from({ length: 20 }, (_, n) => n))
  // Half of maxBufferedBytes: two messages of 100 KiB.
  for (const answer of answers) assert.deepEqual(texts(answer).map((text) => String(text).split(':')[0]), ['18', '19'])
  reader.close()
})

test('a member that stops reading while it catches up is cut once the live messages held for it pass maxBufferedBytes; the others carry on', { timeout: 60_000 }, async (t) => {
  const { app, url, port } = await startApp(t, { maxBufferedBytes: 256 * KiB, history: { size: 300, maxBytes: 32 * 1024 * KiB } })
  // 20 MiB, more than the kernel's buffers take (several MiB on the loopback): the replay waits for a reader that never comes.
  await fill(app, 200, 100 * KiB)
  const sender = await TestClient.connect(t, url)
  const { epoch } = await sender.request({ event: 'roomAdd', room: ROOM }) as { epoch: string }
  const deaf = await PacedReader.connect(t, port, 0)
  await waitFor(() => app.actionheroWs.connections.size === 2)
  deaf.send({ event: 'roomAdd', room: ROOM, since: { epoch, offset: 0 }, messageId: 'rejoin' })
  await waitFor(async () => (await app.actionheroWs.rooms.view(ROOM)).membersCount === 2)
  let said = 0
  while (app.actionheroWs.connections.size === 2 && said < 200) {
    await app.actionheroWs.rooms.broadcast(ROOM, 'live'.padEnd(10 * KiB, '.'))
    said++
    // The server hears of the cut between two broadcasts.
    await sleep(1)
  }
  await waitFor(() => app.actionheroWs.connections.size === 1)
  assert.ok(said < 200, `cut after ${said} messages of 10 KiB held`)
  assert.equal((await sender.request({ event: 'roomView', room: ROOM })).status, 'OK', 'a member that reads is unaffected')
  deaf.close()
})
