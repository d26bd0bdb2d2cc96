/**
 * The bench's targets, end to end: each server in its own process and its client, as the scenarios
 * use them. Every target must echo, join the room and deliver a `say` to every member but the
 * sender, and its server must report its CPU time and its connections.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { WebSocket } from 'ws'
import type { BenchClient } from '../bench/clients/client.js'
import { CLIENTS, LEAN_CLIENTS } from '../bench/clients/index.js'
import { PRESENCE_ROOM, ROOM, TARGETS, chatRoom } from '../bench/config.js'
import { ServerProcess } from '../bench/load/server-process.js'
import { within } from '../bench/load/time.js'

const WAIT = 10_000

for (const target of TARGETS) {
  test(`the ${target} target echoes, joins and says through its own client`, async (t) => {
    const server = await ServerProcess.start(target)
    t.after(() => server.stop())
    const connect = CLIENTS[target]()
    const echoes: number[] = []
    let echoed = (): void => {}
    const heard: Array<{ member: number, message: string }> = []
    let allHeard = (): void => {}
    const clients: BenchClient[] = []
    for (let member = 0; member < 3; member++) {
      clients.push(await within(WAIT, 'connecting', connect(server.url, {
        onEcho: (sentAt) => {
          echoes.push(sentAt)
          echoed()
        },
        onSay: (message) => {
          heard.push({ member, message })
          if (heard.length === 2) allHeard()
        }
      })))
    }
    t.after(() => { for (const client of clients) client.close() })
    const [sender] = clients
    assert.ok(sender !== undefined)

    const echo = new Promise<void>((resolve) => { echoed = resolve })
    sender.echo(12.5)
    await within(WAIT, 'the echo', echo)
    assert.deepEqual(echoes, [12.5])

    await within(WAIT, 'joining', Promise.all(clients.map((client) => client.join(ROOM))))
    const said = new Promise<void>((resolve) => { allHeard = resolve })
    sender.say(ROOM, 'hello, room')
    await within(WAIT, 'the say', said)
    assert.deepEqual(heard.map(({ member }) => member).sort(), [1, 2])
    assert.ok(heard.every(({ message }) => message === 'hello, room'))

    assert.equal((await server.memory()).connections, 3)
    assert.ok(await server.cpuTime() > 0)
  })
}

test('the chat scenario\'s lean Socket.IO client echoes, joins and says against Socket.IO', async (t) => {
  const server = await ServerProcess.start('socketio')
  t.after(() => server.stop())
  const connect = LEAN_CLIENTS.socketio()
  const heard: string[] = []
  let heardOne = (): void => {}
  const echoes: number[] = []
  let echoed = (): void => {}
  const sender = await within(WAIT, 'connecting', connect(server.url, { onEcho: (sentAt) => { echoes.push(sentAt); echoed() } }))
  const listener = await within(WAIT, 'connecting', connect(server.url, { onSay: (message) => { heard.push(message); heardOne() } }))
  t.after(() => { sender.close(); listener.close() })
  const echo = new Promise<void>((resolve) => { echoed = resolve })
  sender.echo(7.25)
  await within(WAIT, 'the echo', echo)
  assert.deepEqual(echoes, [7.25])
  await within(WAIT, 'joining', Promise.all([sender.join(ROOM), listener.join(ROOM)]))
  const said = new Promise<void>((resolve) => { heardOne = resolve })
  sender.say(ROOM, 'hello over the wire')
  await within(WAIT, 'the say', said)
  assert.deepEqual(heard, ['hello over the wire'])
  assert.equal((await server.memory()).connections, 2)
})

for (const target of TARGETS) {
  test(`the ${target} target delivers a say to the members of its room only`, async (t) => {
    const server = await ServerProcess.start(target)
    t.after(() => server.stop())
    const connect = LEAN_CLIENTS[target]()
    const heard: string[][] = [[], [], [], []]
    const waiters = new Set<() => void>()
    const clients: BenchClient[] = []
    for (let member = 0; member < 4; member++) {
      clients.push(await within(WAIT, 'connecting', connect(server.url, {
        onSay: (message) => {
          heard[member]?.push(message)
          for (const waiter of waiters) waiter()
        }
      })))
    }
    t.after(() => { for (const client of clients) client.close() })
    const [a0, a1, b0] = clients
    assert.ok(a0 !== undefined && a1 !== undefined && b0 !== undefined)
    // Members 0 and 1 in one room, 2 and 3 in another.
    await within(WAIT, 'joining', Promise.all(clients.map((client, member) => client.join(chatRoom(member < 2 ? 0 : 1)))))
    const until = (condition: () => boolean, what: string): Promise<void> => within(WAIT, what, new Promise<void>((resolve) => {
      const check = (): void => { if (condition()) { waiters.delete(check); resolve() } }
      waiters.add(check)
      check()
    }))
    a0.say(chatRoom(0), 'to room 0')
    await until(() => heard[1]?.length === 1, 'room 0 hearing its say')
    // The server wrote room 0's say before it read room 1's: had member 3 had it, it would have come first.
    b0.say(chatRoom(1), 'to room 1')
    await until(() => heard[3]?.length === 1, 'room 1 hearing its say')
    assert.deepEqual(heard, [[], ['to room 0'], [], ['to room 1']])
  })
}

test('raw ws with BENCH_WS_HEARTBEAT_MS terminates a client that does not answer its pings, and keeps one that does', async (t) => {
  const server = await ServerProcess.start('ws', { BENCH_WS_HEARTBEAT_MS: '100' })
  t.after(() => server.stop())
  const url = server.url.replace(/^http/, 'ws')
  const answering = new WebSocket(url)
  const silent = new WebSocket(url, { autoPong: false })
  t.after(() => { answering.terminate(); silent.terminate() })
  let pings = 0
  answering.on('ping', () => pings++)
  await within(WAIT, 'opening', Promise.all([once(answering, 'open'), once(silent, 'open')]))
  const [code] = await within(WAIT, 'the silent client terminated', once(silent, 'close')) as [number]
  // Terminated, not closed: no close frame came (1006).
  assert.equal(code, 1006)
  // A ping after the termination proves the answering client is still held and pinged.
  const pingsAtClose = pings
  await within(WAIT, 'one more ping', new Promise<void>((resolve) => { answering.on('ping', () => { if (pings > pingsAtClose) resolve() }) }))
  assert.equal(answering.readyState, WebSocket.OPEN)
  assert.equal((await server.memory()).connections, 1)
})

/** The ping interval a target announces to its clients: Primus's in its spec, Socket.IO's in its open packet. */
async function announcedPingInterval (target: 'primus' | 'plugin' | 'socketio', url: string): Promise<unknown> {
  if (target !== 'socketio') return ((await (await fetch(`${url}/primus/spec`)).json()) as { pingInterval: unknown }).pingInterval
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`)
  try {
    const [data] = await within(WAIT, 'the open packet', once(socket, 'message')) as [Buffer]
    return (JSON.parse(String(data).slice(1)) as { pingInterval: unknown }).pingInterval
  } finally {
    socket.terminate()
  }
}

for (const target of ['primus', 'plugin', 'socketio'] as const) {
  test(`the ${target} target runs its default heartbeat, and none with BENCH_HEARTBEAT=off`, async (t) => {
    const usual = await ServerProcess.start(target)
    t.after(() => usual.stop())
    const off = await ServerProcess.start(target, { BENCH_HEARTBEAT: 'off' })
    t.after(() => off.stop())
    assert.equal(await announcedPingInterval(target, usual.url), target === 'socketio' ? 25_000 : 30_000)
    assert.equal(await announcedPingInterval(target, off.url), target === 'socketio' ? 3_600_000 : false)
  })
}

test('the plugin target\'s presence room: a visitor with a cookie joining and leaving is told to the members, the plain room tells nothing', async (t) => {
  const server = await ServerProcess.start('plugin')
  t.after(() => server.stop())
  const heard: string[] = []
  let changed = (): void => {}
  const members: BenchClient[] = []
  for (let member = 0; member < 2; member++) {
    members.push(await within(WAIT, 'connecting', CLIENTS.plugin()(server.url, {
      onPresence: (event, key) => {
        heard.push(`${event} ${key}`)
        changed()
      }
    })))
  }
  const churner = await within(WAIT, 'connecting', CLIENTS.plugin({ cookie: 'sessionID=bench-churner' })(server.url, {}))
  t.after(() => { for (const client of [...members, churner]) client.close() })
  for (const member of members) {
    await within(WAIT, 'joining', member.join(ROOM))
    await within(WAIT, 'joining', member.join(PRESENCE_ROOM))
  }
  // The two members are tabs of the members' people (by source port): whatever they told each other, nothing more comes.
  heard.length = 0
  const twice = (): Promise<void> => new Promise((resolve) => { changed = () => { if (heard.length % 2 === 0) resolve() } })
  await within(WAIT, 'the plain room', churner.join(ROOM))
  await within(WAIT, 'the plain room', churner.leave?.(ROOM) ?? Promise.reject(new Error('no leave')))
  let told = twice()
  await within(WAIT, 'a join told', Promise.all([churner.join(PRESENCE_ROOM), told]))
  told = twice()
  await within(WAIT, 'a leave told', Promise.all([churner.leave?.(PRESENCE_ROOM), told]))
  assert.deepEqual(heard, ['join bench-churner', 'join bench-churner', 'leave bench-churner', 'leave bench-churner'], 'the plain room told nothing before')
})
