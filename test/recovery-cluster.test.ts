/**
 * Issue 12 across node deaths: three node processes on Redis behind a TCP load balancer, 50 package
 * clients in two rooms, one sender saying every 10 ms. Each node is restarted in turn (a rolling
 * deploy), or one is SIGKILLed; at the end every client's sequence in each room is complete: every
 * offset from 1 to the last, once, in order, every message the sender was told OK among them, and
 * every rejoin recovered.
 */
import { test } from 'node:test'
import { needRedis, type ClusterNode } from './cluster-helpers.js'
import { sleep } from './helpers.js'
import { checkComplete, deploy, NODE_OPTIONS, rejoinCount, sayUntil, settled } from './rolling-deploy.js'

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
