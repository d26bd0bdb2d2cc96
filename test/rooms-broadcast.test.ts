/**
 * `rooms.broadcast` runs the `onSayReceive` middleware, as ActionHero v11's `api.chatRoom.broadcast`
 * did: the middleware sees the server as the sender `{ id: from, broadcast: true }`.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { BroadcastSender, ChatMessage, Connection } from '../lib/index.js'
import { startApp, TestClient } from './helpers.js'

type Message = Record<string, unknown>

async function member (t: TestContext, url: string, room: string): Promise<TestClient> {
  const client = await TestClient.connect(t, url)
  assert.equal((await client.request({ event: 'roomAdd', room })).data, true)
  return client
}

const isChat = (message: Message): boolean => message.context === 'user'

test('onSayReceive runs for a server broadcast: it sees the server as sender and may rewrite, drop or refuse it', { timeout: 30_000 }, async (t) => {
  const senders: Array<Connection | BroadcastSender> = []
  const { app, url } = await startApp(t)
  app.actionheroWs.rooms.use({
    name: 'moderator',
    onSayReceive: (sender, _room, payload): ChatMessage | null | undefined => {
      senders.push(sender)
      if (payload.message === 'drop me') return null
      if (payload.message === 'refuse me') throw new Error('not in this room')
      if (payload.message === 'shout') return { ...payload, message: 'SHOUT' }
      return undefined
    }
  })
  const alice = await member(t, url, 'defaultRoom')
  const { rooms } = app.actionheroWs

  await rooms.broadcast('defaultRoom', 'shout')
  const heard = await alice.next(isChat)
  assert.deepEqual({ from: heard.from, message: heard.message }, { from: 0, message: 'SHOUT' }, 'rewritten')
  assert.deepEqual(senders, [{ id: 0, broadcast: true }])

  await rooms.broadcast('defaultRoom', 'drop me')
  await assert.rejects(rooms.broadcast('defaultRoom', 'refuse me'), { message: 'not in this room' })
  await rooms.broadcast('defaultRoom', 'marker', 'news-desk')
  // The marker was broadcast last, and messages of one room arrive in order: nothing before it came.
  const next = await alice.next(isChat)
  assert.deepEqual({ from: next.from, message: next.message }, { from: 'news-desk', message: 'marker' })
  assert.equal(alice.messages.filter(isChat).length, 2, 'the dropped and the refused broadcasts reached nobody')
  assert.deepEqual(senders.slice(1), [{ id: 0, broadcast: true }, { id: 0, broadcast: true }, { id: 'news-desk', broadcast: true }])
})

test('a member\'s say still gives onSayReceive its connection; broadcasts keep their order through async middleware', { timeout: 30_000 }, async (t) => {
  const senders: Array<string | 0> = []
  const { app, url } = await startApp(t)
  app.actionheroWs.rooms.use({
    name: 'slow',
    onSayReceive: async (sender) => {
      senders.push('broadcast' in sender ? sender.id : sender.type)
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5))
    }
  })
  const alice = await member(t, url, 'defaultRoom')
  const bob = await member(t, url, 'defaultRoom')
  await alice.request({ event: 'say', room: 'defaultRoom', message: 'first' })
  assert.equal((await bob.next(isChat)).message, 'first')
  await Promise.all(Array.from({ length: 20 }, (_, n) => app.actionheroWs.rooms.broadcast('defaultRoom', n)))
  for (let n = 0; n < 20; n++) assert.equal((await bob.next(isChat)).message, n)
  assert.deepEqual(senders, ['webSocket', ...Array.from({ length: 20 }, () => 0)])
})
