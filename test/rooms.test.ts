import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { ChatMessage, Connection } from '../lib/index.js'
import { sleep, startApp, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>

/** Connects a client and returns it with its connection id. */
async function member (t: TestContext, url: string, rooms: string[] = []): Promise<TestClient & { id: string }> {
  const client = await TestClient.connect(t, url)
  const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
  for (const room of rooms) assert.equal((await client.request({ event: 'roomAdd', room })).data, true)
  return Object.assign(client, { id: data.id })
}

const isChat = (room: string, text?: unknown) => (message: Message) =>
  message.context === 'user' && message.room === room && (text === undefined || message.message === text)

let markers = 0

/**
 * Asserts that `client`, a member of `room`, got no message matching `predicate` before a server
 * broadcast made now to `room`: whatever was on its way to it was delivered before that marker.
 */
async function hearsNothing (app: FastifyInstance, client: TestClient, room: string, predicate: (message: Message) => boolean): Promise<void> {
  const marker = `marker ${++markers}`
  await app.actionheroWs.rooms.broadcast(room, marker)
  await client.next(isChat(room, marker))
  assert.equal(client.messages.some(predicate), false)
}

test('roomAdd, roomLeave and roomView: replies, errors, and connection.rooms in join order', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { rooms: ['lobby', 'games', 'news'] })
  const client = await member(t, url)
  const { epoch, ...added } = await client.request({ event: 'roomAdd', room: 'news' })
  assert.equal(typeof epoch, 'string', 'the room\'s history epoch (issue 12)')
  assert.deepEqual(added, { status: 'OK', data: true, offset: 0, context: 'response', messageCount: 2, messageId: 'm2' })
  assert.equal((await client.request({ event: 'roomAdd', room: 'lobby' })).data, true)
  assert.deepEqual(app.actionheroWs.connections.get(client.id)?.rooms, ['news', 'lobby'])

  const again = await client.request({ event: 'roomAdd', room: 'lobby' })
  assert.deepEqual({ status: again.status, error: again.error, data: again.data }, { status: 'connection already in this room', error: 'connection already in this room', data: false })
  assert.equal((await client.request({ event: 'roomAdd', room: 'nowhere' })).error, 'room does not exist')
  assert.equal((await client.request({ event: 'roomLeave', room: 'games' })).error, 'connection not in this room')
  assert.equal((await client.request({ event: 'roomLeave', room: 'games' })).data, false)
  assert.equal((await client.request({ event: 'roomView', room: 'games' })).error, 'not member of room games')

  const view = await client.request({ event: 'roomView', room: 'lobby' })
  const data = view.data as { room: string, members: Record<string, { id: string, joinedAt: number }>, membersCount: number }
  assert.equal(data.room, 'lobby')
  assert.equal(data.membersCount, 1)
  assert.deepEqual(Object.keys(data.members), [client.id])
  assert.equal(data.members[client.id]?.id, client.id)
  assert.ok(Math.abs((data.members[client.id]?.joinedAt ?? 0) - Date.now()) < 60_000)

  assert.equal((await client.request({ event: 'roomLeave', room: 'news' })).data, true)
  assert.deepEqual(app.actionheroWs.connections.get(client.id)?.rooms, ['lobby'])
  assert.deepEqual(((await client.request({ event: 'detailsView' })).data as { rooms: string[] }).rooms, ['lobby'])
})

test('room names that are not non-empty strings of at most 256 characters get "a room is required"', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const client = await member(t, url)
  for (const event of ['roomAdd', 'roomLeave', 'roomView']) {
    for (const room of [undefined, '', 42, ['defaultRoom'], { name: 'defaultRoom' }, 'r'.repeat(257)]) {
      const reply = await client.request({ event, room })
      assert.equal(reply.error, 'a room is required', `${event} ${JSON.stringify(room)}`)
    }
  }
  assert.equal((await client.request({ event: 'say', room: 42, message: 'hi' })).error, 'a room is required')
  assert.equal((await client.request({ event: 'say', room: 'r'.repeat(257), message: 'hi' })).error, 'a room is required')
})

test('say reaches every other member, not the sender, and nobody outside the room', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  const carol = await member(t, url, ['defaultRoom', 'anotherRoom'])
  const outsider = await member(t, url, ['anotherRoom'])
  const before = Date.now()
  const reply = await alice.request({ event: 'say', room: 'defaultRoom', message: 'hello room' })
  assert.deepEqual(reply, { status: 'OK', context: 'response', messageCount: 3, messageId: 'm3' })
  for (const receiver of [bob, carol]) {
    const chat = await receiver.next(isChat('defaultRoom', 'hello room'))
    assert.deepEqual(Object.keys(chat), ['context', 'room', 'from', 'message', 'sentAt', 'offset', 'epoch'])
    assert.equal(chat.from, alice.id)
    assert.ok((chat.sentAt as number) >= before && (chat.sentAt as number) <= Date.now())
  }
  await hearsNothing(app, alice, 'defaultRoom', isChat('defaultRoom', 'hello room'))
  await hearsNothing(app, outsider, 'anotherRoom', isChat('defaultRoom'))
})

test('a message may be any JSON value but an empty one', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  for (const message of [{ text: 'hi', mood: 'happy' }, 0, false, [1, 'two'], 'plain']) {
    assert.equal((await alice.request({ event: 'say', room: 'defaultRoom', message })).status, 'OK')
    assert.deepEqual((await bob.next(isChat('defaultRoom'))).message, message)
  }
  for (const message of [undefined, null, '']) {
    assert.equal((await alice.request({ event: 'say', room: 'defaultRoom', message })).error, 'both room and message are required')
  }
  assert.equal((await alice.request({ event: 'say', message: 'hi' })).error, 'both room and message are required')
  assert.equal((await alice.request({ event: 'say', room: '', message: 'hi' })).error, 'both room and message are required')
  assert.equal((await alice.request({ event: 'say', room: 'anotherRoom', message: 'hi' })).error, 'connection not in this room')
})

test('echoSay delivers a say to its sender too', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { echoSay: true })
  const alice = await member(t, url, ['defaultRoom'])
  await alice.request({ event: 'say', room: 'defaultRoom', message: 'echo' })
  assert.equal((await alice.next(isChat('defaultRoom', 'echo'))).from, alice.id)
})

test('membersCount follows joins, leaves and disconnects; a closed connection leaves every room', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const alice = await member(t, url, ['defaultRoom', 'anotherRoom'])
  const count = async () => ((await alice.request({ event: 'roomView', room: 'defaultRoom' })).data as { membersCount: number }).membersCount
  assert.equal(await count(), 1)
  const bob = await member(t, url, ['defaultRoom', 'anotherRoom'])
  const carol = await member(t, url, ['defaultRoom'])
  assert.equal(await count(), 3)
  await carol.request({ event: 'roomLeave', room: 'defaultRoom' })
  assert.equal(await count(), 2)
  bob.end()
  await waitFor(async () => await count() === 1)
  assert.deepEqual(Object.keys((await app.actionheroWs.rooms.view('anotherRoom')).members), [alice.id])
})

test('the same roomAdd sent twice at once leaves one membership', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {}, {
    setup: (app) => { app.actionheroWs.rooms.use({ name: 'slowJoin', join: () => sleep(30) }) }
  })
  const client = await member(t, url)
  const replies = await Promise.all([
    client.request({ event: 'roomAdd', room: 'defaultRoom' }),
    client.request({ event: 'roomAdd', room: 'defaultRoom' })
  ])
  assert.deepEqual(replies.map((reply) => reply.data).sort(), [false, true])
  assert.ok(replies.some((reply) => reply.error === 'connection already in this room'))
  assert.equal((await app.actionheroWs.rooms.view('defaultRoom')).membersCount, 1)
  assert.deepEqual(app.actionheroWs.connections.get(client.id)?.rooms, ['defaultRoom'])
})

test('the rooms API: add, exists, list, view, addMember, removeMember, broadcast, destroy', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { rooms: ['lobby'] })
  const { rooms } = app.actionheroWs
  assert.deepEqual(await rooms.list(), ['lobby'])
  assert.equal(await rooms.add('studio'), true)
  assert.equal(await rooms.add('studio'), false)
  assert.equal(await rooms.exists('studio'), true)
  assert.equal(await rooms.exists('attic'), false)
  assert.deepEqual((await rooms.list()).sort(), ['lobby', 'studio'])
  await assert.rejects(rooms.add(''), { name: 'RoomError', message: 'a room is required' })

  const alice = await member(t, url)
  const bob = await member(t, url, ['studio'])
  await rooms.addMember(alice.id, 'studio')
  assert.deepEqual(app.actionheroWs.connections.get(alice.id)?.rooms, ['studio'])
  await assert.rejects(rooms.addMember(alice.id, 'studio'), { message: 'connection already in this room' })
  await assert.rejects(rooms.addMember(alice.id, 'attic'), { message: 'room does not exist' })
  await assert.rejects(rooms.addMember('ghost', 'studio'), { message: 'connection ghost is not connected' })
  assert.equal((await rooms.view('studio')).membersCount, 2)
  await assert.rejects(rooms.view('attic'), { message: 'room does not exist' })

  await rooms.broadcast('studio', { news: 'from the server' })
  for (const client of [alice, bob]) assert.equal((await client.next(isChat('studio'))).from, 0)
  await rooms.broadcast('studio', 'on behalf of alice', alice.id)
  assert.equal((await bob.next(isChat('studio', 'on behalf of alice'))).from, alice.id)
  await hearsNothing(app, alice, 'studio', isChat('studio', 'on behalf of alice'))
  await assert.rejects(rooms.broadcast('attic', 'hello'), { message: 'room does not exist' })

  await rooms.removeMember(alice.id, 'studio')
  assert.deepEqual(app.actionheroWs.connections.get(alice.id)?.rooms, [])
  await assert.rejects(rooms.removeMember(alice.id, 'studio'), { message: 'connection not in this room' })

  const left: string[] = []
  rooms.use({ name: 'leaves', leave: (connection, room) => { left.push(`${connection.id}:${room}`) } })
  assert.equal(await rooms.destroy('studio'), true)
  const notice = await bob.next(isChat('studio', 'this room has been deleted'))
  assert.equal(notice.from, 0)
  assert.deepEqual(app.actionheroWs.connections.get(bob.id)?.rooms, [])
  assert.equal(await rooms.exists('studio'), false)
  assert.deepEqual(left, [`${bob.id}:studio`])
  assert.equal((await bob.request({ event: 'say', room: 'studio', message: 'anyone?' })).error, 'connection not in this room')
  assert.equal(await rooms.destroy('studio'), false)
})

test('middleware runs in priority order; join and leave can block with their message', { timeout: 30_000 }, async (t) => {
  const calls: string[] = []
  const { url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.rooms
        .use({ name: 'second', priority: 20, join: () => { calls.push('second') } })
        .use({ name: 'default', join: () => { calls.push('default') } })
        .use({ name: 'first', priority: 10, join: () => { calls.push('first') } })
        .use({ name: 'alsoDefault', join: () => { calls.push('alsoDefault') } })
        .use({
          name: 'bouncer',
          join: (connection, room) => { if (room === 'anotherRoom') throw new Error(`no entry for ${connection.id}`) },
          leave: (_connection, room) => { if (room === 'defaultRoom') throw new Error('you can check out any time you like, but you can never leave') }
        })
    }
  })
  const client = await member(t, url, ['defaultRoom'])
  assert.deepEqual(calls, ['first', 'second', 'default', 'alsoDefault'])
  const refused = await client.request({ event: 'roomAdd', room: 'anotherRoom' })
  assert.deepEqual({ status: refused.status, error: refused.error, data: refused.data },
    { status: `no entry for ${client.id}`, error: `no entry for ${client.id}`, data: false })
  assert.equal((await client.request({ event: 'roomView', room: 'anotherRoom' })).error, 'not member of room anotherRoom')
  const stuck = await client.request({ event: 'roomLeave', room: 'defaultRoom' })
  assert.equal(stuck.error, 'you can check out any time you like, but you can never leave')
  assert.equal(((await client.request({ event: 'roomView', room: 'defaultRoom' })).data as { membersCount: number }).membersCount, 1)
})

test('join and leave middleware can tell the room who came and went', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      const { rooms } = app.actionheroWs
      rooms.use({
        name: 'announce',
        join: async (connection, room) => { await rooms.broadcast(room, { joined: connection.id }) },
        leave: async (connection, room) => { await rooms.broadcast(room, { left: connection.id }) }
      })
    }
  })
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  assert.deepEqual((await alice.next((message) => (message.message as Message | undefined)?.joined === bob.id)).from, 0)
  await bob.request({ event: 'roomLeave', room: 'defaultRoom' })
  await alice.next((message) => (message.message as Message | undefined)?.left === bob.id)
  const carol = await member(t, url, ['defaultRoom'])
  carol.end()
  await alice.next((message) => (message.message as Message | undefined)?.left === carol.id)
  await waitFor(() => app.actionheroWs.connections.size === 2)
})

test('a leave middleware that throws cannot keep a closed connection in its rooms', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {}, {
    setup: (app) => { app.actionheroWs.rooms.use({ name: 'sticky', leave: () => { throw new Error('stay') } }) }
  })
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  bob.end()
  await waitFor(async () => (await app.actionheroWs.rooms.view('defaultRoom')).membersCount === 1)
  assert.deepEqual(Object.keys((await app.actionheroWs.rooms.view('defaultRoom')).members), [alice.id])
})

test('say middleware runs per receiver: rewrite for one, skip another', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'perReceiver',
        say: (receiver, _room, payload) => {
          if (receiver.fingerprint === 'muted' && payload.from !== 0) return null
          if (receiver.fingerprint === 'shouty') return { ...payload, message: String(payload.message).toUpperCase() }
          return undefined
        }
      })
    }
  })
  const sender = await member(t, url, ['defaultRoom'])
  const connectAs = async (fingerprint: string) => {
    const client = await TestClient.connect(t, url, { transport: { headers: { cookie: `sessionID=${fingerprint}` } } })
    await client.request({ event: 'roomAdd', room: 'defaultRoom' })
    return client
  }
  const plain = await connectAs('plain')
  const shouty = await connectAs('shouty')
  const muted = await connectAs('muted')
  await sender.request({ event: 'say', room: 'defaultRoom', message: 'hello' })
  assert.equal((await plain.next(isChat('defaultRoom'))).message, 'hello')
  assert.equal((await shouty.next(isChat('defaultRoom'))).message, 'HELLO')
  await hearsNothing(app, muted, 'defaultRoom', isChat('defaultRoom', 'hello'))
})

test('onSayReceive runs once per message: rewrite, drop, or refuse with an error to the sender', { timeout: 30_000 }, async (t) => {
  let calls = 0
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'moderator',
        onSayReceive: async (_sender, _room, payload): Promise<ChatMessage | null | undefined> => {
          calls++
          if (payload.message === 'spam') return null
          if (payload.message === 'rude') throw new Error('mind your language')
          if (payload.message === 'censor me') return { ...payload, message: '***' }
          return undefined
        }
      })
    }
  })
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  const carol = await member(t, url, ['defaultRoom'])
  await alice.request({ event: 'say', room: 'defaultRoom', message: 'censor me' })
  assert.equal((await bob.next(isChat('defaultRoom'))).message, '***')
  assert.equal((await carol.next(isChat('defaultRoom'))).message, '***')
  assert.equal(calls, 1, 'once per message, not per receiver')
  assert.equal((await alice.request({ event: 'say', room: 'defaultRoom', message: 'spam' })).status, 'OK')
  const refused = await alice.request({ event: 'say', room: 'defaultRoom', message: 'rude' })
  assert.equal(refused.error, 'mind your language')
  await hearsNothing(app, bob, 'defaultRoom', (message) => message.message === 'spam' || message.message === 'rude')
})

test('use refuses middleware without a name, a second one with the same name, or with bad hooks', { timeout: 30_000 }, async (t) => {
  const { app } = await startApp(t)
  const { rooms } = app.actionheroWs
  assert.throws(() => rooms.use({ join: () => {} } as never), { code: 'FST_AHWS_INVALID_MIDDLEWARE' })
  assert.throws(() => rooms.use({ name: '' }), { code: 'FST_AHWS_INVALID_MIDDLEWARE' })
  rooms.use({ name: 'once' })
  assert.throws(() => rooms.use({ name: 'once' }), { code: 'FST_AHWS_INVALID_MIDDLEWARE', message: 'chat middleware "once" is already in use' })
  assert.throws(() => rooms.use({ name: 'bad', say: 'loud' } as never), { message: 'chat middleware "bad" "say" must be a function' })
  assert.throws(() => rooms.use({ name: 'odd', priority: Number.NaN }), { message: 'chat middleware "odd" "priority" must be a number' })
})

test('messages from one sender reach every member in the order sent, even through async middleware', { timeout: 30_000 }, async (t) => {
  // Says sent at once: past the say budget.
  const { url } = await startApp(t, { sayLimit: false }, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'jitter',
        onSayReceive: () => sleep(Math.random() * 3),
        say: () => sleep(Math.random() * 3)
      })
    }
  })
  const sender = await member(t, url, ['defaultRoom'])
  const receivers = await Promise.all([member(t, url, ['defaultRoom']), member(t, url, ['defaultRoom'])])
  const count = 60
  await Promise.all(Array.from({ length: count }, (_, n) => sender.request({ event: 'say', room: 'defaultRoom', message: n })))
  for (const receiver of receivers) {
    await waitFor(() => receiver.messages.filter(isChat('defaultRoom')).length === count)
    assert.deepEqual(receiver.messages.filter(isChat('defaultRoom')).map((message) => message.message), Array.from({ length: count }, (_, n) => n))
  }
})

test('a say is encoded once for all receivers unless say middleware changes it', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t)
  const size = 150
  const members = await Promise.all(Array.from({ length: size }, () => member(t, url, ['defaultRoom'])))
  const encodings = async (send: () => Promise<void>): Promise<number> => {
    const stringify = JSON.stringify
    let calls = 0
    JSON.stringify = ((...args: Parameters<typeof stringify>) => { calls++; return stringify(...args) }) as typeof stringify
    try {
      await send()
    } finally {
      JSON.stringify = stringify
    }
    return calls
  }
  assert.ok(await encodings(() => app.actionheroWs.rooms.broadcast('defaultRoom', 'once')) <= 2)
  await Promise.all(members.map((client) => client.next(isChat('defaultRoom', 'once'))))

  let unchanged = true
  app.actionheroWs.rooms.use({ name: 'maybeChange', say: (receiver, _room, payload) => unchanged ? payload : { ...payload, message: receiver.id } })
  assert.ok(await encodings(async () => {
    await app.actionheroWs.rooms.broadcast('defaultRoom', 'still once')
    await Promise.all(members.map((client) => client.next(isChat('defaultRoom', 'still once'))))
  }) <= 2, 'a say middleware that changes nothing keeps the single encoding')
  unchanged = false
  assert.ok(await encodings(async () => {
    await app.actionheroWs.rooms.broadcast('defaultRoom', 'personal')
    await Promise.all(members.map((client) => client.next((message) => message.message === client.id)))
  }) >= size, 'a changed payload is encoded for its receiver')
})

test('a say over the frame limit never reaches the room', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { server: { maxLength: 16 * 1024 } })
  const alice = await member(t, url, ['defaultRoom'])
  const bob = await member(t, url, ['defaultRoom'])
  const closed = alice.closed()
  alice.socket.write({ event: 'say', room: 'defaultRoom', message: 'x'.repeat(20 * 1024) })
  await closed
  await hearsNothing(app, bob, 'defaultRoom', (message) => message.from === alice.id)
})

test('a membership change asked for a connection that is gone rejects, it does not throw', { timeout: 30_000 }, async (t) => {
  const { app } = await startApp(t)
  const change = app.actionheroWs.rooms.changeLocalMembership('gone', 'defaultRoom', 'add')
  assert.ok(change instanceof Promise)
  await assert.rejects(change, { name: 'RoomError', message: 'connection gone is not connected' })
})

test('roomAdd, roomLeave, roomAdd sent without waiting apply in the order sent', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, {}, {
    // A join slower than a leave: without a per-connection order, the leave would overtake it.
    setup: (app) => { app.actionheroWs.rooms.use({ name: 'slowJoin', join: () => sleep(20) }) }
  })
  const listener = await member(t, url, ['defaultRoom'])
  const client = await member(t, url)
  const replies = await Promise.all(['roomAdd', 'roomLeave', 'roomAdd', 'roomLeave', 'roomAdd']
    .map((event) => client.request({ event, room: 'defaultRoom' })))
  assert.deepEqual(replies.map((reply) => [reply.status, reply.data]), Array(5).fill(['OK', true]))
  assert.deepEqual(app.actionheroWs.connections.get(client.id)?.rooms, ['defaultRoom'])
  // say and roomView sent right behind a roomAdd see the room joined.
  await client.request({ event: 'roomLeave', room: 'defaultRoom' })
  const [joined, said, viewed] = await Promise.all([
    client.request({ event: 'roomAdd', room: 'defaultRoom' }),
    client.request({ event: 'say', room: 'defaultRoom', message: 'right behind' }),
    client.request({ event: 'roomView', room: 'defaultRoom' })
  ])
  assert.deepEqual([joined.status, said.status, viewed.status], ['OK', 'OK', 'OK'])
  assert.equal((await listener.next(isChat('defaultRoom', 'right behind'))).from, client.id)
  assert.equal((viewed.data as { membersCount: number }).membersCount, 2)
  assert.deepEqual(Object.keys((await app.actionheroWs.rooms.view('defaultRoom')).members).sort(), [client.id, listener.id].sort())
})

/** The garbage collector, for tests that prove nothing keeps an object alive. */
function collectGarbage (): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

test('a slow refused leave then a disconnect: no ghost member, onDisconnect once, the connection released', { timeout: 30_000 }, async (t) => {
  const left: string[] = []
  const disconnected: string[] = []
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'slowRefusal',
        leave: async (connection, room) => {
          left.push(`${connection.id}:${room}`)
          await sleep(100)
          throw new Error('not now')
        }
      })
      app.actionheroWs.addHook('onDisconnect', (connection) => { disconnected.push(connection.id) })
    }
  })
  const client = await member(t, url, ['defaultRoom'])
  const watched = new WeakRef(app.actionheroWs.connections.get(client.id) as Connection)
  client.socket.write({ event: 'roomLeave', room: 'defaultRoom', messageId: 'leave' })
  await waitFor(() => left.length === 1)
  await sleep(10)
  client.end()
  await waitFor(() => disconnected.length === 1, 10_000)
  assert.deepEqual(disconnected, [client.id])
  assert.equal((await app.actionheroWs.rooms.view('defaultRoom')).membersCount, 0, 'no ghost member')
  assert.deepEqual(left, [`${client.id}:defaultRoom`, `${client.id}:defaultRoom`], 'the departure ran leave middleware again, and it could not refuse')
  await app.actionheroWs.lifecycle.idle(5000)
  const gc = collectGarbage()
  await waitFor(() => {
    gc()
    return watched.deref() === undefined
  }, 10_000)
  assert.deepEqual(disconnected, [client.id], 'onDisconnect ran once')
})

test('a join that finishes after its connection closed runs leave middleware and leaves no member', { timeout: 30_000 }, async (t) => {
  const events: string[] = []
  let releaseJoin = (): void => {}
  const { app, url } = await startApp(t, {}, {
    setup: (app) => {
      app.actionheroWs.rooms.use({
        name: 'gate',
        join: async (connection, room) => {
          events.push(`join ${room}`)
          await new Promise<void>((resolve) => { releaseJoin = resolve })
        },
        leave: (connection, room) => { events.push(`leave ${room}`) }
      })
      app.actionheroWs.addHook('onDisconnect', () => { events.push('disconnected') })
    }
  })
  const client = await member(t, url)
  client.socket.write({ event: 'roomAdd', room: 'defaultRoom', messageId: 'join' })
  client.socket.write({ event: 'roomAdd', room: 'anotherRoom', messageId: 'queued' })
  await waitFor(() => events.length === 1)
  client.end()
  await waitFor(() => app.actionheroWs.connections.size === 0)
  releaseJoin()
  await waitFor(() => events.includes('disconnected'))
  assert.deepEqual(events, ['join defaultRoom', 'leave defaultRoom', 'disconnected'], 'the join queued behind it never ran for the closed connection')
  assert.equal((await app.actionheroWs.rooms.view('defaultRoom')).membersCount, 0)
  assert.equal((await app.actionheroWs.rooms.view('anotherRoom')).membersCount, 0)
})

test('a say nested 100,000 levels deep answers the protocol\'s error, not the engine\'s', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t)
  const bob = await member(t, url, ['defaultRoom'])
  // A raw socket: no client library would encode such a message.
  const alice = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => alice.terminate())
  const replies: Message[] = []
  alice.on('message', (data) => { replies.push(JSON.parse(String(data)) as Message) })
  await new Promise((resolve) => alice.once('open', resolve))
  alice.send('{"event":"roomAdd","room":"defaultRoom","messageId":"join"}')
  const depth = 100_000
  alice.send(`{"event":"say","room":"defaultRoom","messageId":"deep","message":${'['.repeat(depth)}${']'.repeat(depth)}}`)
  alice.send('{"event":"say","room":"defaultRoom","messageId":"fine","message":[[["fine"]]]}')
  await waitFor(() => replies.some((reply) => reply.messageId === 'fine'))
  const deep = replies.find((reply) => reply.messageId === 'deep')
  assert.deepEqual({ status: deep?.status, error: deep?.error }, { status: 'the message cannot be sent as JSON', error: 'the message cannot be sent as JSON' })
  const chat = await bob.next(isChat('defaultRoom'))
  assert.deepEqual(chat.message, [[['fine']]], 'the deep one never reached the room; the next one did')
})
