/**
 * The sender pays (issue 18, item 4): each connection's `say` has a budget in messages and bytes per
 * second (`sayLimit`). A say over it is refused with `ERRORS.sayOverBudget` and reaches nobody; every
 * say is answered, and the members get exactly the says answered OK, in order. Server broadcasts are
 * not budgeted. Memory store and Redis.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import actionheroWs from '../lib/index.js'
import { ERRORS } from '../types/protocol.js'
import { startApp, TestClient, waitFor } from './helpers.js'
import { PacedReader } from './paced-reader.js'
import { ROOM_STORES } from './room-stores.js'

type Message = Record<string, unknown>
const ROOM = 'defaultRoom'
const MiB = 1024 * 1024

/** Sends `count` says at once, without waiting; resolves with their replies, in the order sent. */
async function sayAll (client: TestClient, messages: unknown[]): Promise<Message[]> {
  return await Promise.all(messages.map(async (message) => await client.request({ event: 'say', room: ROOM, message })))
}

/** The indexes of the says answered OK; every other reply must be the budget's refusal. */
function answeredOk (replies: Message[]): number[] {
  const ok: number[] = []
  for (const [index, reply] of replies.entries()) {
    if (reply.status === 'OK') ok.push(index)
    else assert.equal(reply.error, ERRORS.sayOverBudget, `say ${index}: ${JSON.stringify(reply)}`)
  }
  return ok
}

for (const store of ROOM_STORES) {
  test(`${store.name}: 30 says of 1 MiB: members reading at 1 MiB/s stay connected and get exactly the says answered OK, in order`, { timeout: 120_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    const { app, url, port } = await startApp(t, options)
    const sender = await TestClient.connect(t, url)
    assert.equal((await sender.request({ event: 'roomAdd', room: ROOM })).data, true)
    const readers = [await PacedReader.connect(t, port, MiB), await PacedReader.connect(t, port, MiB), await PacedReader.connect(t, port, MiB)]
    await waitFor(() => app.actionheroWs.connections.size === 4)
    for (const reader of readers) reader.send({ event: 'roomAdd', room: ROOM, messageId: 'join' })
    await waitFor(() => readers.every((reader) => reader.messages.some((m) => m.messageId === 'join')))
    // Just under server.maxLength (1 MiB) with the request around it.
    const replies = await sayAll(sender, Array.from({ length: 30 }, (_, n) => `${n}:`.padEnd(MiB - 256, 'x')))
    const ok = answeredOk(replies)
    assert.ok(ok.length >= 1, 'the first fits in the budget')
    // Said after them all: once a member has it, it has had every say before it.
    await app.actionheroWs.rooms.broadcast(ROOM, 'end')
    await waitFor(() => readers.every((reader) => !reader.open || reader.messages.some((m) => m.message === 'end')), 60_000)
    for (const reader of readers) {
      assert.equal(reader.open, true, 'not cut as a slow reader')
      const got = reader.messages.filter((m) => m.context === 'user' && m.message !== 'end').map((m) => Number(String(m.message).split(':')[0]))
      assert.deepEqual(got, ok)
      reader.close()
    }
  })
}

test('over the message budget, a say is refused and reaches nobody; the budget refills with time', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { sayLimit: { messages: 3, bytes: MiB } })
  const [sender, member] = [await TestClient.connect(t, url), await TestClient.connect(t, url)]
  for (const client of [sender, member]) await client.request({ event: 'roomAdd', room: ROOM })
  const started = Date.now()
  const ok = answeredOk(await sayAll(sender, Array.from({ length: 10 }, (_, n) => n)))
  // A burst of one second's worth, and what refilled while the says were handled.
  assert.ok(ok.length >= 3 && ok.length <= 3 + Math.ceil((Date.now() - started) * 3 / 1000), `${ok.length} answered OK`)
  assert.deepEqual(ok.slice(0, 3), [0, 1, 2])
  await waitFor(async () => (await sender.request({ event: 'say', room: ROOM, message: 'later' })).status === 'OK', 5000)
  await member.next((m) => m.message === 'later')
  assert.deepEqual(member.messages.filter((m) => m.context === 'user' && m.message !== 'later').map((m) => m.message), ok)
})

test('over the byte budget, a say is refused; a say larger than the whole budget never passes', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { sayLimit: { messages: 100, bytes: 10_000 } })
  const [sender, member] = [await TestClient.connect(t, url), await TestClient.connect(t, url)]
  for (const client of [sender, member]) await client.request({ event: 'roomAdd', room: ROOM })
  const ok = answeredOk(await sayAll(sender, Array.from({ length: 5 }, (_, n) => `${n}:`.padEnd(4000, 'x'))))
  assert.deepEqual(ok.slice(0, 2), [0, 1])
  assert.ok(ok.length < 5)
  assert.equal((await sender.request({ event: 'say', room: ROOM, message: 'y'.repeat(10_001) })).error, ERRORS.sayOverBudget)
  await waitFor(async () => (await sender.request({ event: 'say', room: ROOM, message: 'end' })).status === 'OK', 5000)
  await member.next((m) => m.message === 'end')
  assert.deepEqual(member.messages.filter((m) => m.context === 'user' && typeof m.message === 'string' && m.message !== 'end')
    .map((m) => Number(String(m.message).split(':')[0])), ok)
})

test('sayLimit: false lets a flood through; server broadcasts are never budgeted', { timeout: 30_000 }, async (t) => {
  const open = await startApp(t, { sayLimit: false })
  const sender = await TestClient.connect(t, open.url)
  await sender.request({ event: 'roomAdd', room: ROOM })
  assert.deepEqual(answeredOk(await sayAll(sender, Array.from({ length: 50 }, (_, n) => n))), Array.from({ length: 50 }, (_, n) => n))

  const { app, url } = await startApp(t, { sayLimit: { messages: 1, bytes: 100 } })
  const member = await TestClient.connect(t, url)
  await member.request({ event: 'roomAdd', room: ROOM })
  for (let n = 0; n < 50; n++) await app.actionheroWs.rooms.broadcast(ROOM, `${n}`.padEnd(200, '.'))
  await member.next((m) => String(m.message).startsWith('49'))
  assert.equal(member.messages.filter((m) => m.context === 'user').length, 50)
})

test('sayLimit is checked at register', { timeout: 10_000 }, async () => {
  for (const sayLimit of [true, { messages: 0, bytes: 1 }, { messages: 1, bytes: 1.5 }, { messages: 1, bytes: 1, burst: 2 }, 'fast']) {
    const app = Fastify()
    await assert.rejects(async () => {
      await app.register(actionheroWs, { clientJsName: null, sayLimit } as never)
      await app.ready()
    }, { code: 'FST_AHWS_INVALID_OPTION' }, JSON.stringify(sayLimit))
    await app.close()
  }
})
