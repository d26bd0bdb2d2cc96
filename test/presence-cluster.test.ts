/**
 * Presence across nodes and faults (issue 22): 3 node processes on a Redis of the test's own, 60
 * package clients in 3 presence rooms with 20 presence keys (3 tabs each). After every step every
 * connected client's list is the truth (the keys with a connected client in its room): joins, leaves,
 * a tab closing (no leave while another tab remains), a node SIGKILLed (one leave per key that is
 * gone), a node SIGSTOPped past nodeTimeout and resumed, and Redis restarted empty (no change reaches
 * the clients). An absence is proven by a marker change heard after it. The scripts and the sharded
 * channel are checked on a Redis Cluster too.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { createCluster, needRedisServer, startOwnRedis, startRedisCluster, uniquePrefix, type ClusterNode } from './cluster-helpers.js'
import { waitFor } from './helpers.js'
import { keysOf, visitor, type Visitor } from './presence-helpers.js'

const ROOMS = ['r0', 'r1', 'r2']
const HEARTBEAT_INTERVAL = 250
const NODE_TIMEOUT = 1500

interface Tab {
  client: Visitor
  key: string
  room: string
  node: number
}

/**
 * Keys k0..k11 have a tab on each node; k12..k19 have their 3 tabs on one node (k12, k15, k18 on node
 * 0; k13, k16, k19 on node 1; k14, k17 on node 2). Key ki is in room r(i % 3).
 */
async function tabsOn (t: TestContext, nodes: readonly ClusterNode[]): Promise<Tab[]> {
  const tabs: Tab[] = []
  for (let i = 0; i < 20; i++) {
    for (let tab = 0; tab < 3; tab++) {
      const node = i < 12 ? tab : i % 3
      const key = `k${i}`
      tabs.push({ client: await visitor(t, (nodes[node] as ClusterNode).url, key), key, room: `r${i % 3}`, node })
    }
  }
  await Promise.all(tabs.map(({ client, room }) => client.roomAdd(room)))
  return tabs
}

/** The keys with a connected client in `room`. */
function truth (tabs: readonly Tab[], room: string): string[] {
  return [...new Set(tabs.filter(({ client }) => client.state === 'connected' && client.rooms.includes(room)).map(({ key }) => key))].sort()
}

/** Waits until every connected client's list of its room is the truth. */
async function converged (tabs: readonly Tab[], what: string, timeout = 10_000): Promise<void> {
  const wrong = (): string[] => tabs.filter(({ client, room }) => client.state === 'connected' && client.rooms.includes(room) &&
    JSON.stringify(keysOf(client, room)) !== JSON.stringify(truth(tabs, room))).map(({ client, room }) => `${String(client.id)} in ${room}: ${JSON.stringify(keysOf(client, room))}`)
  await waitFor(() => wrong().length === 0, timeout).catch(() => {
    throw new Error(`${what}: lists are not the truth: ${wrong().slice(0, 3).join('; ')} (truth ${ROOMS.map((room) => JSON.stringify(truth(tabs, room))).join(' ')})`)
  })
}

/** What `client` heard after its first `skip` changes. */
const since = (client: Visitor, skip: number): string[] => client.heard.slice(skip)

test('presence across 3 nodes: lists are the truth through joins, leaves, a tab closing, SIGKILL, SIGSTOP and Redis restarted empty', { timeout: 120_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const redis = await startOwnRedis(t)
  const cluster = createCluster(t, { redisUrl: redis.url })
  const options = { rooms: ROOMS, presence: true, redis: { url: redis.url, heartbeatInterval: HEARTBEAT_INTERVAL, nodeTimeout: NODE_TIMEOUT } }
  const nodes = [await cluster.startNode(options), await cluster.startNode(options), await cluster.startNode(options)]
  const tabs = await tabsOn(t, nodes)
  assert.deepEqual(ROOMS.map((room) => truth(tabs, room).length), [7, 7, 6], 'every tab joined its room')
  await converged(tabs, 'after the joins')
  // Each room's observer: key k0, k1, k2's tab on node 0 (never stopped nor killed).
  const observers = ROOMS.map((room) => (tabs.find((tab) => tab.room === room && tab.node === 0 && Number(tab.key.slice(1)) < 12) as Tab).client)
  const [observer0, observer1, observer2] = observers as [Visitor, Visitor, Visitor]

  // rooms.updateMember on node 0 for a tab on node 1: its room hears `update` on every node, once; the counts agree.
  const k6OnNode1 = tabs.find(({ key, node }) => key === 'k6' && node === 1) as Tab
  const k6OnNode2 = tabs.find(({ key, node }) => key === 'k6' && node === 2) as Tab
  const heardBefore = [observer0.heard.length, k6OnNode2.client.heard.length]
  await (nodes[0] as ClusterNode).call('updateMember', { id: k6OnNode1.client.id })
  await waitFor(() => observer0.heard.length > (heardBefore[0] as number) && k6OnNode2.client.heard.length > (heardBefore[1] as number))
  assert.deepEqual(since(observer0, heardBefore[0] as number), ['update k6'])
  assert.deepEqual(since(k6OnNode2.client, heardBefore[1] as number), ['update k6'])
  assert.deepEqual(await (nodes[2] as ClusterNode).call('count', { room: 'r0' }), { room: 'r0', membersCount: 21, keysCount: 7 })

  // A tab closing while the key has others: nothing; a marker that joins after it is the next change heard.
  let heard = observer0.heard.length
  const k3OnNode1 = tabs.find(({ key, node }) => key === 'k3' && node === 1) as Tab
  k3OnNode1.client.disconnect()
  const marker = await visitor(t, (nodes[2] as ClusterNode).url, 'marker')
  await marker.roomAdd('r0')
  await waitFor(() => observer0.heard.length > heard)
  assert.deepEqual(since(observer0, heard), ['join marker'], 'no leave for k3: it has tabs left')
  // A key's last tab leaving: one leave.
  heard = observer0.heard.length
  await marker.roomLeave('r0')
  await waitFor(() => observer0.heard.length > heard)
  assert.deepEqual(since(observer0, heard), ['leave marker'])
  await converged(tabs, 'after a tab closed')

  // SIGKILL node 2: k14 and k17 had every tab there (rooms r2, r2); every other key keeps a tab elsewhere.
  const before = observers.map((observer) => observer.heard.length)
  const killedAt = Date.now()
  await (nodes[2] as ClusterNode).stop('SIGKILL')
  for (const tab of tabs) if (tab.node === 2) tab.client.disconnect()
  await converged(tabs, 'after SIGKILL', 15_000)
  t.diagnostic(`SIGKILL: the leaves reached every list ${Date.now() - killedAt} ms after the kill (heartbeatInterval + nodeTimeout = ${HEARTBEAT_INTERVAL + NODE_TIMEOUT} ms)`)
  // One leave per key gone, and none for the others: a marker after them is heard next.
  const marker2 = await visitor(t, (nodes[1] as ClusterNode).url, 'marker2')
  for (const room of ROOMS) await marker2.roomAdd(room)
  await waitFor(() => observers.every((observer) => observer.heard.at(-1) === 'join marker2'))
  assert.deepEqual(since(observer0, before[0] as number), ['join marker2'])
  assert.deepEqual(since(observer1, before[1] as number), ['join marker2'])
  assert.deepEqual(since(observer2, before[2] as number).sort(), ['join marker2', 'leave k14', 'leave k17'])
  marker2.disconnect()
  await converged(tabs, 'after the marker left')

  // SIGSTOP node 1 past nodeTimeout: node 0 reaps it, k13, k16, k19 (all theirs there) leave; then it comes back.
  const stopped = nodes[1] as ClusterNode
  const beforeStop = observer1.heard.length
  stopped.process.kill('SIGSTOP')
  await waitFor(() => ['leave k13', 'leave k16', 'leave k19'].every((change) => observer1.heard.includes(change)), 15_000)
  assert.deepEqual(since(observer1, beforeStop).sort(), ['leave k13', 'leave k16', 'leave k19'], 'one leave per key whose every tab is on the stopped node')
  stopped.process.kill('SIGCONT')
  await waitFor(() => ['join k13', 'join k16', 'join k19'].every((change) => since(observer1, beforeStop).includes(change)), 15_000)
  await converged(tabs, 'after SIGSTOP and SIGCONT', 15_000)

  // Redis restarted without its data: the nodes write their state back, and no change reaches a client.
  const counts = tabs.map(({ client }) => client.heard.length)
  await redis.kill()
  await redis.start()
  const memberships = tabs.filter(({ client, room }) => client.state === 'connected' && client.rooms.includes(room)).length
  let last: number[] = []
  await waitFor(async () => {
    const lengths = await Promise.all(ROOMS.map((room) => redis.command('HLEN', `${cluster.prefix}{cluster}room:${room}`) as Promise<number>))
    last = lengths
    return lengths.reduce((sum, length) => sum + length, 0) === memberships
  }, 15_000).catch((error: unknown) => {
    throw new Error(`the nodes did not write their ${memberships} memberships back after Redis restarted empty: its rooms hold ${JSON.stringify(last)}`, { cause: error })
  })
  const marker3 = await visitor(t, (nodes[0] as ClusterNode).url, 'marker3')
  for (const room of ROOMS) await marker3.roomAdd(room)
  await converged([...tabs, ...ROOMS.map((room) => ({ client: marker3, key: 'marker3', room, node: 0 }))], 'after Redis restarted empty', 15_000)
  for (const [index, { client, room }] of tabs.entries()) {
    if (client.state !== 'connected') continue
    await waitFor(() => client.heard.at(-1) === 'join marker3')
    assert.deepEqual(since(client, counts[index] as number), ['join marker3'], `${String(client.id)} in ${room}: nothing between the restart and the marker`)
  }
  cluster.assertHealthy()
})

test('presence on a Redis Cluster: a change crosses nodes on the sharded channel; a node killed leaves one key, not the one connected elsewhere', { timeout: 90_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const redis = await startRedisCluster(t)
  const cluster = createCluster(t, { prefix: uniquePrefix(), redis: { cluster: redis.nodes } })
  const options = { presence: true, redis: { cluster: redis.nodes, heartbeatInterval: HEARTBEAT_INTERVAL, nodeTimeout: NODE_TIMEOUT } }
  const nodes = [await cluster.startNode(options), await cluster.startNode(options)]
  const [first, second] = nodes as [ClusterNode, ClusterNode]
  const observer = await visitor(t, first.url, 'observer')
  await observer.roomAdd('defaultRoom')
  // `alone` only on the second node; `both` on both.
  const tabs = [await visitor(t, second.url, 'alone'), await visitor(t, first.url, 'both'), await visitor(t, second.url, 'both')]
  for (const tab of tabs) await tab.roomAdd('defaultRoom')
  await waitFor(() => observer.heard.length === 3)
  assert.deepEqual(observer.heard, ['list defaultRoom', 'join alone', 'join both'])
  await second.stop('SIGKILL')
  for (const tab of [tabs[0], tabs[2]] as Visitor[]) tab.disconnect()
  await waitFor(() => observer.heard.length === 4, 15_000)
  const marker = await visitor(t, first.url, 'marker')
  await marker.roomAdd('defaultRoom')
  await waitFor(() => observer.heard.length === 5)
  assert.deepEqual(observer.heard.slice(3), ['leave alone', 'join marker'], 'one leave: `both` is still connected on the first node')
  assert.deepEqual(keysOf(observer, 'defaultRoom'), ['both', 'marker', 'observer'])
  cluster.assertHealthy()
})
