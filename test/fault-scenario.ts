/**
 * The scenario every fault test runs: three node processes, two clients on each (one in defaultRoom,
 * one in defaultRoom and anotherRoom, every client with a fingerprint of its node), and the check that
 * the cluster healed: every live node's rooms.view lists every live connection in exactly its rooms,
 * and send, sendToFingerprint and a broadcast from any node reach it.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { RoomMembers } from '../lib/index.js'
import type { ClusterNode, TestCluster } from './cluster-helpers.js'
import { TestClient, waitFor } from './helpers.js'

/** Short timings keep the fault tests fast; the heal bound is heartbeatInterval + nodeTimeout. */
export const TIMING = { heartbeatInterval: 200, nodeTimeout: 1000 }
export const HEAL_BOUND = TIMING.heartbeatInterval + TIMING.nodeTimeout
/** How long a check may wait on a loaded machine; the measured heal time is what the docs report. */
const DEADLINE = 20_000
export const ROOMS = ['defaultRoom', 'anotherRoom']

export interface Member {
  client: TestClient
  id: string
  node: number
  fingerprint: string
  rooms: string[]
}

export interface Scenario {
  cluster: TestCluster
  nodes: ClusterNode[]
  members: Member[]
}

/** Starts three nodes (`redisUrl(n)`, when given, is node n's Redis: a proxy) and their clients. */
export async function startScenario (t: TestContext, cluster: TestCluster, redisUrl?: (node: number) => string): Promise<Scenario> {
  const nodes = await Promise.all([0, 1, 2].map((n) => cluster.startNode({ redis: { ...(redisUrl === undefined ? {} : { url: redisUrl(n) }), ...TIMING } })))
  const members: Member[] = []
  for (const [n, node] of nodes.entries()) {
    for (const rooms of [['defaultRoom'], ['defaultRoom', 'anotherRoom']]) {
      const fingerprint = `fp-${n}`
      const client = await TestClient.connect(t, node.url, { transport: { headers: { cookie: `sessionID=${fingerprint}` } } })
      const { data } = await client.request({ event: 'detailsView' }) as { data: { id: string } }
      for (const room of rooms) assert.equal((await client.request({ event: 'roomAdd', room })).data, true, `joined ${room}`)
      members.push({ client, id: data.id, node: n, fingerprint, rooms })
    }
  }
  await healed({ cluster, nodes, members }, [0, 1, 2])
  return { cluster, nodes, members }
}

/** Whether every live node's view of every room is exactly the live members in it. */
async function viewsExact (scenario: Scenario, live: readonly number[]): Promise<boolean> {
  for (const n of live) {
    for (const room of ROOMS) {
      const expected = scenario.members.filter((member) => live.includes(member.node) && member.rooms.includes(room)).map((member) => member.id).sort()
      let view: RoomMembers
      try {
        view = await scenario.nodes[n]!.call<RoomMembers>('view', { room })
      } catch {
        return false
      }
      if (view.membersCount !== expected.length || JSON.stringify(Object.keys(view.members).sort()) !== JSON.stringify(expected)) return false
    }
  }
  return true
}

let markers = 0

/** Whether `send` from node `from` reaches `member` now. */
async function sendReaches (scenario: Scenario, from: number, member: Member): Promise<boolean> {
  const text = `send ${++markers}`
  try {
    if (await scenario.nodes[from]!.call('send', { id: member.id, message: { context: 'alert', text } }) !== true) return false
    await member.client.next((message) => message.text === text, 250)
    return true
  } catch {
    return false
  }
}

/**
 * Waits until the cluster healed, with only the nodes `live` left, and resolves how long that took (ms).
 * Then proves it: every live node's send, sendToFingerprint and broadcast reach every live member.
 */
export async function healed (scenario: Scenario, live: readonly number[]): Promise<number> {
  const started = Date.now()
  const alive = scenario.members.filter((member) => live.includes(member.node))
  await waitFor(async () => await viewsExact(scenario, live) && (await Promise.all(live.flatMap((from) =>
    alive.map((member) => sendReaches(scenario, from, member))))).every(Boolean), DEADLINE)
  const elapsed = Date.now() - started

  for (const from of live) {
    for (const n of live) {
      const text = `fingerprint ${++markers}`
      const reached = await scenario.nodes[from]!.call('sendToFingerprint', { fingerprint: `fp-${n}`, message: { context: 'alert', text } })
      assert.equal(reached, 2, `sendToFingerprint from node ${from} reaches both clients of node ${n}`)
      for (const member of alive.filter((candidate) => candidate.node === n)) await member.client.next((message) => message.text === text)
    }
    const text = `broadcast ${++markers}`
    await scenario.nodes[from]!.call('broadcast', { room: 'defaultRoom', message: text })
    for (const member of alive) await member.client.next((message) => message.context === 'user' && message.message === text)
  }
  scenario.cluster.assertHealthy()
  return elapsed
}

/** Waits until `node` no longer lists the members of node `gone`: the others gave it up for dead. */
export async function reaped (scenario: Scenario, observer: number, gone: number): Promise<void> {
  const ids = new Set(scenario.members.filter((member) => member.node === gone).map((member) => member.id))
  await waitFor(async () => {
    const view = await scenario.nodes[observer]!.call<RoomMembers>('view', { room: 'defaultRoom' })
    return !Object.keys(view.members).some((id) => ids.has(id))
  }, DEADLINE)
}

/**
 * Records a heal time, and fails when it is far beyond the bound: the measure includes the test's own
 * polling of three processes, which a loaded machine slows down, hence the margin.
 */
export function report (t: TestContext, fault: string, elapsed: number): void {
  t.diagnostic(`${fault}: healed in ${elapsed} ms (bound heartbeatInterval + nodeTimeout = ${HEAL_BOUND} ms)`)
  assert.ok(elapsed <= HEAL_BOUND * 5, `${fault}: healed in ${elapsed} ms, far beyond ${HEAL_BOUND} ms`)
}

/** What a stranger, or a node of another version, might publish on a channel of the cluster. */
const origin = 'someone-else'
export const GARBAGE = [
  'chat\nx\n{not json', '', '\n\n\n', 'ahws/2\nchat\nx\n{}', 'ahws/1\n', 'ahws/1\nchat', 'ahws/1\nchat\nx\n{not json',
  `ahws/1\nchat\n${origin}\nnull`, `ahws/1\nchat\n${origin}\n{"context":"user","room":"elsewhere","from":0,"sentAt":1}`,
  `ahws/1\npush\n${origin}\n{}`, `ahws/1\npush\n${origin}\n[1,2]\n{}`, `ahws/1\nmembership\n${origin}\n{"requestId":1}`,
  `ahws/1\nmembership-reply\n${origin}\n[]`, `ahws/1\nwhatever\n${origin}\n{}`, '\u00ff\u00fe\u0000'
]

/** Every node logged what it dropped from the bus, with the channel, and rate-limited. */
export function assertDropped (scenario: Scenario, channels: readonly string[]): void {
  for (const node of scenario.nodes) {
    const dropped = node.logs.filter((line) => line.msg === 'fastify-actionhero-ws: dropped a message from the bus')
    assert.ok(dropped.length >= 1, 'the node logged what it dropped')
    assert.ok(dropped.length < channels.length * GARBAGE.length, 'rate-limited')
    assert.ok(dropped.every((line) => typeof line.channel === 'string' && channels.includes(line.channel)), 'with the channel')
  }
}
