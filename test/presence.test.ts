/**
 * Presence on one process (issue 22): one entry per presence key, a `join` from its first connection
 * and a `leave` from its last, none in between; the list in the `roomAdd` reply; `update` from
 * `rooms.updateMember`; counts without the list; the option's rooms and key; and the client's list
 * made again, not added to, after a reconnect. An absence is proven by a change that follows it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ActionheroClient, ERRORS, type PresenceMessage, type RoomAddResponse } from '../lib/client/node.js'
import { FaultProxy } from './fixtures/fault-proxy.js'
import { startApp, TestClient, waitFor } from './helpers.js'
import { fingerprintKey } from '../lib/rooms/presence.js'
import { keysOf, listsAre, nameOf, visitor } from './presence-helpers.js'

const ROOM = 'defaultRoom'

test('tabs of one visitor are one entry: a join from the first, a leave from the last, nothing between', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { presence: true, memberDetails: (connection) => ({ tab: connection.id.slice(0, 4) }) })
  const observer = await visitor(t, url, 'observer')
  const added = await observer.roomAdd(ROOM)
  assert.deepEqual(Object.keys(added.presence?.keys ?? {}), [fingerprintKey('observer')], 'the reply lists who is here: the observer itself')
  assert.equal(JSON.stringify(added).includes('"observer"'), false, 'a hash of the fingerprint, never the cookie itself')
  assert.deepEqual(observer.heard, [`list ${ROOM}`])

  const alice1 = await visitor(t, url, 'alice')
  await alice1.roomAdd(ROOM)
  await waitFor(() => observer.heard.length === 2)
  const alice2 = await visitor(t, url, 'alice')
  const second = await alice2.roomAdd(ROOM)
  assert.deepEqual(Object.keys(second.presence?.keys ?? {}).map(nameOf).sort(), ['alice', 'observer'])
  assert.equal(second.presence?.keys[fingerprintKey('alice')]?.length, 2, 'the list gives each key once, with every connection of it')
  const bob = await visitor(t, url, 'bob')
  await bob.roomAdd(ROOM)
  await waitFor(() => observer.heard.length === 3)
  assert.deepEqual(observer.heard.slice(1), ['join alice', 'join bob'], 'alice\'s second tab said nothing')
  await listsAre([observer, alice1, alice2, bob], ROOM, ['alice', 'bob', 'observer'])

  await alice1.roomLeave(ROOM)
  alice2.disconnect()
  await waitFor(() => observer.heard.length === 4)
  assert.deepEqual(observer.heard.slice(3), ['leave alice'], 'alice left once, with her last tab')
  await bob.roomLeave(ROOM)
  await waitFor(() => observer.heard.length === 5)
  assert.deepEqual(observer.heard.slice(3), ['leave alice', 'leave bob'])
  await listsAre([observer], ROOM, ['observer'])
  assert.equal(keysOf(bob, ROOM), null, 'a client that left has no list')
})

test('a late joiner\'s list plus the changes after it is always complete, under churn', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { presence: true })
  const churners = await Promise.all(['a', 'b', 'c', 'd'].map((key) => visitor(t, url, key)))
  const late: ActionheroClient[] = []
  const churn = (async () => {
    for (let round = 0; round < 15; round++) {
      await Promise.all(churners.map((client, index) => (round + index) % 2 === 0 ? client.roomAdd(ROOM) : client.roomLeave(ROOM)))
    }
  })()
  for (let n = 0; n < 6; n++) {
    const client = await visitor(t, url, `late${n}`)
    await client.roomAdd(ROOM)
    late.push(client)
  }
  await churn
  const truth = churners.filter((client) => client.rooms.includes(ROOM)).map((client) => String(client.fingerprint))
  await listsAre(late, ROOM, [...truth, ...late.map((client) => String(client.fingerprint))])
})

test('rooms.updateMember makes the details again and pushes update; roomView and the lists show them', { timeout: 30_000 }, async (t) => {
  const names = new Map<string, string>()
  const { app, url } = await startApp(t, { presence: true, memberDetails: (connection) => ({ name: names.get(connection.id) ?? 'anonymous' }) })
  const observer = await visitor(t, url, 'observer')
  await observer.roomAdd(ROOM)
  const alice = await visitor(t, url, 'alice')
  await alice.roomAdd(ROOM)
  await waitFor(() => observer.heard.includes('join alice'))
  const updates: PresenceMessage[] = []
  observer.on('presence', (change) => { if (change.event === 'update') updates.push(change) })
  names.set(String(alice.id), 'Alice')
  await app.actionheroWs.rooms.updateMember(String(alice.id), ROOM)
  await waitFor(() => updates.length === 1)
  assert.equal(updates[0]?.key, fingerprintKey('alice'))
  assert.equal(updates[0]?.member.name, 'Alice')
  assert.equal(observer.presence(ROOM)?.[fingerprintKey('alice')]?.[0]?.name, 'Alice')
  assert.equal((await app.actionheroWs.rooms.view(ROOM)).members[String(alice.id)]?.name, 'Alice')
  // Every room of the connection when none is given; a room it is not in is refused.
  names.set(String(alice.id), 'Alice B.')
  await app.actionheroWs.rooms.updateMember(String(alice.id))
  await waitFor(() => updates.length === 2)
  assert.equal(observer.presence(ROOM)?.[fingerprintKey('alice')]?.[0]?.name, 'Alice B.')
  await assert.rejects(app.actionheroWs.rooms.updateMember(String(alice.id), 'anotherRoom'), { message: ERRORS.notInRoom })
  await assert.rejects(app.actionheroWs.rooms.updateMember('nobody', ROOM), { message: ERRORS.connectionNotFound('nobody') })
})

test('presence.rooms and presence.key: only those rooms, grouped by the app\'s key; counts without the list', { timeout: 30_000 }, async (t) => {
  const { app, url } = await startApp(t, { presence: { rooms: [ROOM], key: (connection) => String(connection.fingerprint).split('-')[0] ?? '' } })
  const observer = await visitor(t, url, 'observer-1')
  assert.equal((await observer.roomAdd(ROOM)).presence?.version !== undefined, true)
  assert.equal((await observer.roomAdd('anotherRoom')).presence, undefined, 'a room without presence has no list')
  assert.equal(observer.presence('anotherRoom'), null)
  const devices = [await visitor(t, url, 'user7-phone'), await visitor(t, url, 'user7-laptop')]
  for (const device of devices) {
    await device.roomAdd(ROOM)
    await device.roomAdd('anotherRoom')
  }
  await listsAre([observer, ...devices], ROOM, ['observer', 'user7'])
  assert.deepEqual(observer.heard, [`list ${ROOM}`, 'join user7'], 'one join for two devices; none from the room without presence')

  assert.deepEqual((await observer.roomView(ROOM)).data?.keysCount, 2)
  const member = await TestClient.connect(t, url)
  assert.equal((await member.request({ event: 'roomView', room: ROOM, count: true })).error, ERRORS.notMemberOf(ROOM), 'members only, as roomView')
  await member.request({ event: 'roomAdd', room: ROOM })
  const counts = await member.request({ event: 'roomView', room: ROOM, count: true })
  assert.deepEqual(counts.data, { room: ROOM, membersCount: 4, keysCount: 3 }, 'counts only: no member list')
  await member.request({ event: 'roomAdd', room: 'anotherRoom' })
  // A member that does not show the list asks without it: the changes come all the same.
  const audience = await TestClient.connect(t, url)
  const joined = await audience.request({ event: 'roomAdd', room: ROOM, presence: false })
  assert.equal(joined.status, 'OK')
  assert.equal('presence' in joined, false, 'no list in the reply')
  await devices[0]?.roomLeave(ROOM)
  await devices[1]?.roomLeave(ROOM)
  assert.equal((await audience.next((message) => message.context === 'presence')).event, 'leave')
  assert.deepEqual((await member.request({ event: 'roomView', room: 'anotherRoom', count: true })).data, { room: 'anotherRoom', membersCount: 4 })
  assert.deepEqual(await app.actionheroWs.rooms.count(ROOM), { room: ROOM, membersCount: 3, keysCount: 2 })
})

test('a presence.key that throws refuses the join, with the protocol\'s error', { timeout: 30_000 }, async (t) => {
  const { url } = await startApp(t, { presence: { key: () => { throw new Error('no user') } } })
  const client = await visitor(t, url, 'someone')
  const reply: RoomAddResponse = await client.roomAdd(ROOM)
  assert.equal(reply.error, ERRORS.presenceKeyFailed)
  assert.deepEqual(client.rooms, [])
  assert.equal(client.presence(ROOM), null)
})

test('after a reconnect the list is made again from the roomAdd reply, never added to', { timeout: 30_000 }, async (t) => {
  const running = await startApp(t, { presence: true })
  const proxy = await FaultProxy.start(running.port)
  t.after(() => proxy.close())
  const client = await visitor(t, `http://127.0.0.1:${proxy.port}`, 'traveller')
  await client.roomAdd(ROOM)
  const bob = await visitor(t, running.url, 'bob')
  await bob.roomAdd(ROOM)
  await listsAre([client], ROOM, ['bob', 'traveller'])
  const id = String(client.id)
  proxy.cut()
  await waitFor(() => !running.app.actionheroWs.connections.has(id), 10_000)
  // While it is away: bob leaves, carol comes.
  await bob.roomLeave(ROOM)
  const carol = await visitor(t, running.url, 'carol')
  await carol.roomAdd(ROOM)
  const reconnected = new Promise((resolve) => client.once('connected', () => resolve(undefined)))
  proxy.heal()
  await reconnected
  assert.deepEqual(keysOf(client, ROOM), ['carol', 'traveller'], 'the list is the reply\'s when connected fires')
  assert.equal(client.presence(ROOM)?.[fingerprintKey('traveller')]?.length, 1, 'the client itself once, with its new connection')
  assert.equal(client.heard.at(-1), `list ${ROOM}`)
  await carol.roomLeave(ROOM)
  await listsAre([client], ROOM, ['traveller'])
})

test('the presence option is checked at registration', { timeout: 10_000 }, async (t) => {
  for (const presence of ['yes', { rooms: 'lobby' }, { key: 'id' }, { room: [] }]) {
    await assert.rejects(startApp(t, { presence: presence as never }), /presence/)
  }
})
