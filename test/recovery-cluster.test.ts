/**
 * Issue 12 across node deaths: three node processes on Redis behind a TCP load balancer, 50 package
 * clients in two rooms, one sender saying every 10 ms. Each node is restarted in turn (a rolling
 * deploy), or one is SIGKILLed; at the end every client's sequence in each room is complete: every
 * offset from 1 to the last, once, in order, every message the sender was told OK among them, and
 * every rejoin recovered.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { ActionheroClient, type ChatMessage, type RoomRecovery } from '../lib/client/node.js'
import { createCluster, needRedis, type ClusterNode, type TestCluster } from './cluster-helpers.js'
import { Balancer } from './fixtures/balancer.js'
import { sleep, waitFor } from './helpers.js'

const ROOMS = ['defaultRoom', 'anotherRoom']
const CLIENTS = 50
/** Enough history for the longest time a client is away here (a few seconds at 50 messages a second per room). */
// The sender says every 10 ms, faster than the say budget lets a chat.
const NODE_OPTIONS = { history: { size: 2000, ttl: 120_000 }, sayLimit: false as const }
/** Deadlines for a machine shared by several test runs. */
const DEADLINE = 60_000

interface Listener {
  client: ActionheroClient
  heard: Record<string, ChatMessage[]>
  recoveries: RoomRecovery[]
}

interface Deployment {
  cluster: TestCluster
  nodes: ClusterNode[]
  balancer: Balancer
  listeners: Listener[]
  sender: ActionheroClient
}

function clientOf (t: TestContext, url: string): ActionheroClient {
  const client = new ActionheroClient({ url, reconnect: { min: 50, max: 500, retries: 1000 }, timeout: 20_000 })
  t.after(() => client.disconnect())
  return client
}

async function deploy (t: TestContext): Promise<Deployment> {
  const cluster = createCluster(t)
  const nodes = await Promise.all([0, 1, 2].map(() => cluster.startNode(NODE_OPTIONS)))
  const balancer = await Balancer.start(nodes.map((node) => node.port))
  t.after(() => balancer.close())
  const listeners: Listener[] = []
  for (let i = 0; i < CLIENTS; i++) {
    const client = clientOf(t, balancer.url)
    const listener: Listener = { client, heard: Object.fromEntries(ROOMS.map((room) => [room, []])), recoveries: [] }
    client.on('say', (message) => listener.heard[message.room]?.push(message))
    client.on('recovered', (recovery) => listener.recoveries.push(recovery))
    listeners.push(listener)
  }
  await Promise.all(listeners.map(async ({ client }) => {
    await client.connect()
    for (const room of ROOMS) assert.equal((await client.roomAdd(room)).data, true)
  }))
  const sender = clientOf(t, balancer.url)
  await sender.connect()
  for (const room of ROOMS) await sender.roomAdd(room)
  return { cluster, nodes, balancer, listeners, sender }
}

/** Says every 10 ms, alternating rooms, until `control.stop`; answers what the server said OK to, per room. */
async function sayUntil (sender: ActionheroClient, control: { stop: boolean }): Promise<Record<string, Set<string>>> {
  const told: Record<string, Set<string>> = Object.fromEntries(ROOMS.map((room) => [room, new Set<string>()]))
  for (let n = 0; !control.stop; n++) {
    const room = ROOMS[n % 2] as string
    const reply = await sender.say(room, `say ${n}`)
    if (reply.error === undefined) told[room]?.add(`say ${n}`)
    await sleep(10)
  }
  return told
}

const allConnected = (deployment: Deployment): boolean =>
  deployment.sender.state === 'connected' && deployment.listeners.every(({ client }) => client.state === 'connected')

const rejoinCount = ({ listeners }: Deployment): number => listeners.reduce((sum, { recoveries }) => sum + recoveries.length, 0)

/** Waits until clients of a node that went away have rejoined on the others, and every client is connected. */
async function settled (deployment: Deployment, rejoinsBefore: number): Promise<void> {
  await waitFor(() => rejoinCount(deployment) > rejoinsBefore && allConnected(deployment), DEADLINE)
}

/** A last message per room, once all are back; then every sequence must be complete. */
async function checkComplete (deployment: Deployment, told: Record<string, Set<string>>): Promise<void> {
  await waitFor(() => allConnected(deployment), DEADLINE)
  const last: Record<string, number> = {}
  for (const room of ROOMS) assert.equal((await deployment.sender.say(room, 'end')).status, 'OK')
  await waitFor(() => deployment.listeners.every(({ heard }) => ROOMS.every((room) => heard[room]?.at(-1)?.message === 'end')), DEADLINE)
  for (const room of ROOMS) last[room] = deployment.listeners[0]?.heard[room]?.at(-1)?.offset ?? 0
  let rejoins = 0
  for (const [i, { heard, recoveries }] of deployment.listeners.entries()) {
    for (const room of ROOMS) {
      const messages = heard[room] ?? []
      const offsets = messages.map((message) => message.offset)
      assert.deepEqual(offsets, Array.from({ length: last[room] ?? 0 }, (_, k) => k + 1), `client ${i} in ${room}: every offset once, in order`)
      const texts = new Set(messages.map((message) => message.message))
      for (const text of told[room] ?? []) assert.ok(texts.has(text), `client ${i} in ${room} has "${text}"`)
    }
    assert.ok(recoveries.every(({ recovered }) => recovered), `client ${i}: every rejoin recovered`)
    rejoins += recoveries.length
  }
  assert.ok(rejoins > 0, 'clients were moved between nodes')
  deployment.cluster.assertHealthy()
}

test('a rolling restart of three nodes: every client\'s sequence per room is complete, nothing twice', { timeout: 240_000 }, async (t) => {
  if (!await needRedis(t)) return
  const deployment = await deploy(t)
  const { cluster, nodes, balancer } = deployment
  const control = { stop: false }
  const saying = sayUntil(deployment.sender, control)
  for (let n = 0; n < nodes.length; n++) {
    const old = nodes[n] as ClusterNode
    const before = rejoinCount(deployment)
    balancer.remove(old.port)
    await old.stop()
    const replacement = await cluster.startNode(NODE_OPTIONS)
    nodes[n] = replacement
    balancer.add(replacement.port)
    await settled(deployment, before)
    await sleep(300) // messages said while everyone is in place, between restarts
  }
  control.stop = true
  await checkComplete(deployment, await saying)
})

test('a node SIGKILLed: its clients move to the others, and every sequence per room is complete', { timeout: 240_000 }, async (t) => {
  if (!await needRedis(t)) return
  const deployment = await deploy(t)
  const { nodes } = deployment
  const control = { stop: false }
  const saying = sayUntil(deployment.sender, control)
  await sleep(300)
  const before = rejoinCount(deployment)
  await nodes[1]?.stop('SIGKILL')
  await settled(deployment, before)
  await sleep(300)
  control.stop = true
  await checkComplete(deployment, await saying)
})
