/**
 * The bench's targets, end to end: each server in its own process and its client, as the scenarios
 * use them. Every target must echo, join the room and deliver a `say` to every member but the
 * sender, and its server must report its CPU time and its connections.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { BenchClient } from '../bench/clients/client.js'
import { CLIENTS } from '../bench/clients/index.js'
import { ROOM, TARGETS } from '../bench/config.js'
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
