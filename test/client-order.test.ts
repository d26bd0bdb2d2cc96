/**
 * The client handles the server's messages in the order they came on the wire (issue 22, item 6): a
 * reply's callback, and the code after an awaited request, see the client as it was when the reply
 * came, before any push that followed it is applied. The server writes the reply, then a push in the
 * same turn of its event loop, so that both reach the client in one read.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient } from '../lib/client/node.js'
import { defineAction } from '../lib/index.js'
import type { ServerMessage } from '../types/protocol.js'
import { startApp, waitFor } from './helpers.js'

/** Answers, then pushes `{ context: 'api', pushed: n }` right behind the reply. */
const replyThenPush = defineAction({
  name: 'replyThenPush',
  inputs: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] } as const,
  run: ({ n }, connection) => {
    // After the reply's write (the action's promise settles first), before the client reads.
    if ('send' in connection) setImmediate(() => connection.send({ context: 'api', pushed: n }))
    return { n }
  }
})

async function connected (t: TestContext): Promise<{ client: ActionheroClient, pushed: number[], wire: string[] }> {
  const { url } = await startApp(t, { actions: [replyThenPush] })
  const client = new ActionheroClient({ url })
  t.after(() => client.disconnect())
  await client.connect()
  const pushed: number[] = []
  const wire: string[] = []
  client.on('api', (message) => { if (typeof message.pushed === 'number') pushed.push(message.pushed) })
  client.on('message', (message: ServerMessage) => {
    const fields = message as Record<string, unknown>
    if (typeof fields.pushed === 'number') wire.push(`push ${fields.pushed}`)
    else if (fields.context === 'response' && typeof fields.n === 'number') wire.push(`reply ${fields.n}`)
  })
  return { client, pushed, wire }
}

test('a reply\'s callback runs before the push that followed it on the wire is applied', { timeout: 20_000 }, async (t) => {
  const { client, pushed, wire } = await connected(t)
  for (let n = 1; n <= 5; n++) {
    const seen = await new Promise<number[]>((resolve) => client.action('replyThenPush', { n }, () => resolve([...pushed])))
    assert.deepEqual(seen, pushed.slice(0, n - 1), `the callback of request ${n} saw only the pushes before its reply`)
    await waitFor(() => pushed.length === n)
  }
  assert.deepEqual(wire, ['reply 1', 'push 1', 'reply 2', 'push 2', 'reply 3', 'push 3', 'reply 4', 'push 4', 'reply 5', 'push 5'], 'each reply came before its push on the wire')
})

test('the code after an awaited request runs before the push that followed the reply', { timeout: 20_000 }, async (t) => {
  const { client, pushed } = await connected(t)
  for (let n = 1; n <= 5; n++) {
    // Through a few async layers, as an app's code would be.
    const ask = async (): Promise<unknown> => await client.action('replyThenPush', { n })
    await (async () => await ask())()
    assert.equal(pushed.length, n - 1, `after request ${n}, the push behind its reply is not applied yet`)
    await waitFor(() => pushed.length === n)
  }
})

test('requests sent at once: each callback sees exactly the pushes that came before its reply', { timeout: 20_000 }, async (t) => {
  const { client, pushed, wire } = await connected(t)
  const seen = await Promise.all([1, 2, 3, 4].map((n) => client.action('replyThenPush', { n }).then(() => [...pushed])))
  await waitFor(() => pushed.length === 4)
  for (const [index, pushesSeen] of seen.entries()) {
    const before = wire.slice(0, wire.indexOf(`reply ${index + 1}`)).filter((entry) => entry.startsWith('push')).map((entry) => Number(entry.slice(5)))
    assert.deepEqual(pushesSeen, before, `request ${index + 1} saw the pushes before its reply on the wire, and no other`)
  }
})
