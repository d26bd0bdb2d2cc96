/**
 * No loss while connected, shown on node processes (issue 19, "Show"): a sender says every 5 ms in two
 * rooms while the test kills the nodes' subscribers (CLIENT KILL TYPE pubsub), restarts Redis with its
 * RDB (SAVE, kill -9, start again), or fails a master of a Redis Cluster over to its replica (CLUSTER
 * FAILOVER). Members stay connected all along; at the end every member's sequence in each room is
 * complete: every offset once, in order, every message whose say was answered OK among them. A
 * member told `recovered: false` would be counted and explained; where the history covers the gap
 * there must be none.
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { RedisOptions } from '../lib/index.js'
import { redisCommand } from '../bench/load/redis-cluster.js'
import { createCluster, needRedisServer, startOwnRedis, startRedisCluster, type ClusterNode, type TestCluster } from './cluster-helpers.js'
import { sleep, TestClient, waitFor } from './helpers.js'

type Message = Record<string, unknown>
const ROOMS = ['defaultRoom', 'anotherRoom']
/** No node is reaped while Redis restarts; a request to an absent Redis fails within a second. */
const TIMING = { heartbeatInterval: 250, nodeTimeout: 5000, requestTimeout: 1000 }
const DEADLINE = 30_000

interface Member {
  client: TestClient
  node: number
}

interface Deployment {
  cluster: TestCluster
  nodes: ClusterNode[]
  members: Member[]
  sender: TestClient
}

async function joinedClient (t: TestContext, node: ClusterNode): Promise<TestClient> {
  const client = await TestClient.connect(t, node.url)
  for (const room of ROOMS) assert.equal((await client.request({ event: 'roomAdd', room })).data, true)
  return client
}

/** `count` node processes meeting at `redis`, two members on each in both rooms, and a sender on the first. */
async function deploy (t: TestContext, count: number, redis: RedisOptions): Promise<Deployment> {
  const cluster = createCluster(t, redis.url === undefined ? { redis } : { redisUrl: redis.url })
  // A sender of 200 messages a second: beyond the default say budget, which is not what is tested here.
  const nodes = await Promise.all(Array.from({ length: count }, () => cluster.startNode({ redis: { ...TIMING }, sayLimit: false })))
  const members: Member[] = []
  for (const [n, node] of nodes.entries()) for (let i = 0; i < 2; i++) members.push({ client: await joinedClient(t, node), node: n })
  return { cluster, nodes, members, sender: await joinedClient(t, nodes[0] as ClusterNode) }
}

/** Says every 5 ms, alternating rooms, until stopped; answers what was answered OK, per room, in order. */
function sayEvery5ms (sender: TestClient): { stop: () => Promise<Record<string, string[]>> } {
  const told: Record<string, string[]> = Object.fromEntries(ROOMS.map((room) => [room, []]))
  const control = { stopped: false }
  const saying = (async () => {
    for (let n = 0; !control.stopped; n++) {
      const room = ROOMS[n % 2] as string
      const reply = await sender.request({ event: 'say', room, message: `say ${n}` })
      if (reply.status === 'OK') told[room]?.push(`say ${n}`)
      await sleep(5)
    }
  })()
  return {
    stop: async () => {
      control.stopped = true
      await saying
      return told
    }
  }
}

/** What a member heard of `room`, in order: its messages, and the notices that some may be missing. */
function heardIn (client: TestClient, room: string): Message[] {
  return client.messages.filter((m) => m.room === room && (m.context === 'user' || (m.context === 'room' && m.event === 'recovered')))
}

/**
 * A last message per room, then every member's sequence must be complete: offsets one after another
 * (a loss notice moves the sequence to its position, and is counted), nothing twice, every message
 * answered OK among them. Answers how many loss notices the members got.
 */
async function checkComplete (t: TestContext, { members, sender, cluster }: Deployment, told: Record<string, string[]>): Promise<number> {
  for (const room of ROOMS) {
    await waitFor(async () => (await sender.request({ event: 'say', room, message: 'end' })).status === 'OK', DEADLINE)
  }
  await waitFor(() => members.every(({ client }) => ROOMS.every((room) => heardIn(client, room).some((m) => m.message === 'end'))), DEADLINE)
  let notices = 0
  for (const [i, { client, node }] of members.entries()) {
    for (const room of ROOMS) {
      const heard = heardIn(client, room)
      let expected: number | null = null
      const texts = new Set<unknown>()
      for (const message of heard) {
        if (message.context === 'room') {
          notices++
          t.diagnostic(`member ${i} (node ${node}) in ${room}: recovered false after offset ${String(message.offset)}`)
          expected = (message.offset as number) + 1
          continue
        }
        if (expected !== null) assert.equal(message.offset, expected, `member ${i} (node ${node}) in ${room}: offsets one after another, nothing twice`)
        expected = (message.offset as number) + 1
        texts.add(message.message)
      }
      const missing = (told[room] ?? []).filter((text) => !texts.has(text))
      assert.deepEqual(notices > 0 ? [] : missing, [], `member ${i} (node ${node}) in ${room}: every message answered OK`)
    }
  }
  cluster.assertHealthy()
  return notices
}

async function scenario (t: TestContext, count: number, redis: RedisOptions, fault: (deployment: Deployment) => Promise<void>): Promise<void> {
  const deployment = await deploy(t, count, redis)
  const saying = sayEvery5ms(deployment.sender)
  await sleep(500)
  await fault(deployment)
  await sleep(1000)
  const told = await saying.stop()
  assert.ok(ROOMS.every((room) => (told[room]?.length ?? 0) > 20), 'the sender was told OK before and after the fault')
  const notices = await checkComplete(t, deployment, told)
  t.diagnostic(`${deployment.members.length} members on ${count} nodes, ${ROOMS.map((room) => told[room]?.length).join(' + ')} messages answered OK, ${notices} loss notices`)
  assert.equal(notices, 0, 'the history covered every gap: no member was told messages may be missing')
}

/** Kills the subscriber connections of this test's nodes, on its own Redis. */
async function killSubscribers (url: string): Promise<void> {
  assert.ok(Number(await redisCommand(url, 'CLIENT', 'KILL', 'TYPE', 'pubsub')) >= 1)
}

for (const count of [2, 3]) {
  test(`${count} nodes: the subscribers killed three times while a sender says every 5 ms; every member's sequence is complete`, { timeout: 120_000 }, async (t) => {
    if (!needRedisServer(t)) return
    const redis = await startOwnRedis(t)
    await scenario(t, count, { url: redis.url }, async () => {
      for (let i = 0; i < 3; i++) {
        await killSubscribers(redis.url)
        await sleep(400)
      }
    })
  })

  test(`${count} nodes: Redis restarted with an RDB 200 ms old (SAVE, kill -9, start) while a sender says every 5 ms; every member's sequence is complete`, { timeout: 120_000 }, async (t) => {
    if (!needRedisServer(t)) return
    const redis = await startOwnRedis(t)
    await scenario(t, count, { url: redis.url }, async ({ nodes }) => {
      // The snapshot is 200 ms older than the kill: the messages said meanwhile, which members have, are
      // not in it, and Redis comes back with offsets behind theirs.
      await redis.kill({ keepData: true, snapshotAge: 200 })
      await redis.start()
      // Back once every node has written its state back (its rooms exist again on every node's view).
      await waitFor(async () => (await Promise.all(nodes.map((node) => node.call<string[]>('list').catch(() => [])))).every((rooms) => rooms.length >= 2), DEADLINE)
    })
  })
}

test('3 nodes on a Redis Cluster: a master failed over to its replica (CLUSTER FAILOVER) while a sender says every 5 ms; every member\'s sequence is complete', { timeout: 180_000 }, async (t) => {
  if (!needRedisServer(t)) return
  const redis = await startRedisCluster(t, { replicas: true })
  await scenario(t, 3, { cluster: redis.nodes }, async () => {
    // Every replica takes over its master, one after another: each room's slot moves, whichever master owned it.
    for (const { host, port } of redis.replicas) {
      const url = `redis://${host}:${port}`
      await redisCommand(url, 'CLUSTER', 'FAILOVER')
      await waitFor(async () => String(await redisCommand(url, 'ROLE')).startsWith('master'), DEADLINE)
      await sleep(300)
    }
  })
})
