/**
 * A deployment for the scale-out tests: node processes on Redis behind a TCP load balancer, package
 * clients in two rooms, and a sender saying in them; then a check that every client heard every offset
 * of each room once, in order, and recovered every rejoin.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { ActionheroWsOptions } from '../lib/index.js'
import { ActionheroClient, type ChatMessage, type ClientOptions, type RoomRecovery } from '../lib/client/node.js'
import { createCluster, type ClusterNode, type TestCluster } from './cluster-helpers.js'
import { Balancer } from '../bench/load/balancer.js'
import { sleep, waitFor } from './helpers.js'

export const ROOMS = ['defaultRoom', 'anotherRoom']
/** Enough history for the longest time a client is away here (a few seconds at 50 messages a second per room). */
// The sender says every 10 ms, faster than the say budget lets a chat.
export const NODE_OPTIONS = { history: { size: 2000, ttl: 120_000 }, sayLimit: false as const }
/** Deadlines for a machine shared by several test runs. */
const DEADLINE = 60_000

export interface Listener {
  client: ActionheroClient
  heard: Record<string, ChatMessage[]>
  recoveries: RoomRecovery[]
}

export interface Deployment {
  cluster: TestCluster
  nodes: ClusterNode[]
  balancer: Balancer
  listeners: Listener[]
  sender: ActionheroClient
}

export interface DeploymentOptions {
  clients?: number
  nodeOptions?: ActionheroWsOptions
  clientOptions?: ClientOptions
}

function clientOf (t: TestContext, url: string, options: ClientOptions): ActionheroClient {
  const client = new ActionheroClient({ url, reconnect: { min: 50, max: 500 }, timeout: 20_000, ...options })
  t.after(() => client.disconnect())
  return client
}

/** Three nodes behind a balancer, `clients` listeners in both rooms (50 by default), and a sender. */
export async function deploy (t: TestContext, { clients = 50, nodeOptions = NODE_OPTIONS, clientOptions = {} }: DeploymentOptions = {}): Promise<Deployment> {
  const cluster = createCluster(t)
  const nodes = await Promise.all([0, 1, 2].map(() => cluster.startNode(nodeOptions)))
  const balancer = await Balancer.start(nodes.map((node) => node.port))
  t.after(() => balancer.close())
  const listeners: Listener[] = []
  for (let i = 0; i < clients; i++) {
    const client = clientOf(t, balancer.url, clientOptions)
    const listener: Listener = { client, heard: Object.fromEntries(ROOMS.map((room) => [room, []])), recoveries: [] }
    client.on('say', (message) => listener.heard[message.room]?.push(message))
    client.on('recovered', (recovery) => listener.recoveries.push(recovery))
    listeners.push(listener)
  }
  await Promise.all(listeners.map(async ({ client }) => {
    await client.connect()
    for (const room of ROOMS) assert.equal((await client.roomAdd(room)).data, true)
  }))
  const sender = clientOf(t, balancer.url, clientOptions)
  await sender.connect()
  for (const room of ROOMS) await sender.roomAdd(room)
  return { cluster, nodes, balancer, listeners, sender }
}

/** Says every 10 ms, alternating rooms, until `control.stop`; answers what the server said OK to, per room. */
export async function sayUntil (sender: ActionheroClient, control: { stop: boolean }): Promise<Record<string, Set<string>>> {
  const told: Record<string, Set<string>> = Object.fromEntries(ROOMS.map((room) => [room, new Set<string>()]))
  for (let n = 0; !control.stop; n++) {
    const room = ROOMS[n % 2] as string
    const reply = await sender.say(room, `say ${n}`)
    if (reply.error === undefined) told[room]?.add(`say ${n}`)
    await sleep(10)
  }
  return told
}

export const allConnected = (deployment: Deployment): boolean =>
  deployment.sender.state === 'connected' && deployment.listeners.every(({ client }) => client.state === 'connected')

export const rejoinCount = ({ listeners }: Deployment): number => listeners.reduce((sum, { recoveries }) => sum + recoveries.length, 0)

/** Waits until clients of a node that went away have rejoined on the others, and every client is connected. */
export async function settled (deployment: Deployment, rejoinsBefore: number): Promise<void> {
  await waitFor(() => rejoinCount(deployment) > rejoinsBefore && allConnected(deployment), DEADLINE)
}

/** A last message per room, once all are back; then every sequence must be complete. */
export async function checkComplete (deployment: Deployment, told: Record<string, Set<string>>): Promise<void> {
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
