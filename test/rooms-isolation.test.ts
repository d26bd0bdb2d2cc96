/**
 * `say` middleware isolation (issue 19, item 3): each receiver's middleware gets its own copy of the
 * message, nested objects too. What it changes reaches its receiver, and never another receiver,
 * the shared frame or the history; on the memory store and on Redis.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ChatMessage } from '../lib/index.js'
import { startApp, TestClient } from './helpers.js'
import { ROOM_STORES } from './room-stores.js'

type Message = Record<string, unknown>
const ROOM = 'defaultRoom'

const said = (client: TestClient, marker: string): Promise<Message> =>
  client.next((m) => m.context === 'user' && (m.message as Message | undefined)?.marker === marker)

for (const store of ROOM_STORES) {
  test(`${store.name}: a say middleware that redacts payload.message.secret in place redacts it for its receiver only, and history keeps what was said`, { timeout: 30_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    const { app, url } = await startApp(t, { ...options, echoSay: true })
    const [alice, bob, carol] = [await TestClient.connect(t, url), await TestClient.connect(t, url), await TestClient.connect(t, url)]
    const ids: string[] = []
    for (const client of [alice, bob, carol]) {
      assert.equal((await client.request({ event: 'roomAdd', room: ROOM })).data, true)
      ids.push((await client.request({ event: 'detailsView' }) as { data: { id: string } }).data.id)
    }
    const bobId = ids[1]
    app.actionheroWs.rooms.use({
      name: 'redact-for-bob',
      say: (receiver, _room, payload) => {
        const message = payload.message as Message
        if (receiver.id === bobId && typeof message === 'object') message.secret = '[redacted]'
      }
    })
    assert.equal((await alice.request({ event: 'say', room: ROOM, message: { marker: 'one', secret: 'the password' } })).status, 'OK')
    const original = { marker: 'one', secret: 'the password' }
    const history = (await carol.request({ event: 'roomHistory', room: ROOM }) as { data: ChatMessage[] }).data
    assert.deepEqual({
      bob: (await said(bob, 'one')).message,
      alice: (await said(alice, 'one')).message,
      carol: (await said(carol, 'one')).message,
      carolsHistory: history.map((m) => m.message)
    }, { bob: { marker: 'one', secret: '[redacted]' }, alice: original, carol: original, carolsHistory: [original] })
  })

  test(`${store.name}: what one receiver's middleware adds in place to a nested object never reaches another receiver`, { timeout: 30_000 }, async (t) => {
    const options = await store.options(t)
    if (options === null) return
    const { app, url } = await startApp(t, options)
    const sender = await TestClient.connect(t, url)
    const receivers = [await TestClient.connect(t, url), await TestClient.connect(t, url), await TestClient.connect(t, url)]
    for (const client of [sender, ...receivers]) assert.equal((await client.request({ event: 'roomAdd', room: ROOM })).data, true)
    app.actionheroWs.rooms.use({
      name: 'stamp',
      say: async (receiver, _room, payload) => {
        const message = payload.message as { marker: string, seenBy: string[] }
        message.seenBy.push(receiver.id)
        // The others' middleware runs meanwhile.
        await new Promise((resolve) => setImmediate(resolve))
      }
    })
    assert.equal((await sender.request({ event: 'say', room: ROOM, message: { marker: 'two', seenBy: [] } })).status, 'OK')
    for (const receiver of receivers) {
      const { id } = (await receiver.request({ event: 'detailsView' }) as { data: { id: string } }).data
      assert.deepEqual(((await said(receiver, 'two')).message as Message).seenBy, [id])
    }
    // roomHistory goes through the sender's own middleware: one stamp, on what was said.
    const history = await sender.request({ event: 'roomHistory', room: ROOM }) as { data: ChatMessage[] }
    const { id } = (await sender.request({ event: 'detailsView' }) as { data: { id: string } }).data
    assert.deepEqual(history.data.map((m) => m.message), [{ marker: 'two', seenBy: [id] }])
  })
}

test('a string message through say middleware that changes nothing is encoded once and sent as it was said', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const sender = await TestClient.connect(t, url)
  const receiver = await TestClient.connect(t, url)
  for (const client of [sender, receiver]) await client.request({ event: 'roomAdd', room: ROOM })
  const seen: ChatMessage[] = []
  app.actionheroWs.rooms.use({ name: 'watch', say: (_receiver, _room, payload) => { seen.push(payload) } })
  await sender.request({ event: 'say', room: ROOM, message: 'plain' })
  const received = await receiver.next((m) => m.context === 'user' && m.message === 'plain')
  assert.equal(received.message, 'plain')
  assert.equal(seen.length, 1)
})
