/**
 * Issue 20, deploys without storms: three node processes on Redis (history on) behind a TCP load
 * balancer, 300 package clients in two rooms and a sender saying in them. Each node is restarted in
 * turn with SIGTERM: it drains its connections in batches, refusing new handshakes (503) meanwhile,
 * and its clients come back through the balancer to the others with jittered backoff. At the end
 * every client is in both rooms again and has heard every offset of each, once, in order.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { peakPerSecond } from '../bench/load/handshake-rate.js'
import { needRedis, type ClusterNode } from './cluster-helpers.js'
import { sleep } from './helpers.js'
import { checkComplete, deploy, NODE_OPTIONS, rejoinCount, ROOMS, sayUntil, settled } from './rolling-deploy.js'

const CLIENTS = 300

test(`a rolling restart that drains: ${CLIENTS} clients back in their rooms with nothing lost`, { timeout: 120_000 }, async (t) => {
  if (!await needRedis(t)) return
  const nodeOptions = { ...NODE_OPTIONS, drain: { batchSize: 20, intervalMs: 100 } }
  const deployment = await deploy(t, { clients: CLIENTS, nodeOptions, clientOptions: { reconnect: { min: 100, max: 2000 } } })
  const { cluster, nodes, balancer } = deployment
  const control = { stop: false }
  const saying = sayUntil(deployment.sender, control)
  const peaks: number[] = []
  for (let n = 0; n < nodes.length; n++) {
    const old = nodes[n] as ClusterNode
    const survivors = nodes.filter((node) => node !== old)
    const before = rejoinCount(deployment)
    const stoppedAt = Date.now()
    // The balancer still sends handshakes to the old node while it drains: it refuses them.
    await old.stop()
    const replacement = await cluster.startNode(nodeOptions)
    nodes[n] = replacement
    balancer.add(replacement.port)
    balancer.remove(old.port)
    await settled(deployment, before)
    const seen = await Promise.all(survivors.map((node) => node.call<number[]>('handshakes')))
    peaks.push(Math.max(...seen.map((times) => peakPerSecond(times, stoppedAt))))
    await sleep(300) // messages said while everyone is in place, between restarts
  }
  control.stop = true
  await checkComplete(deployment, await saying)
  for (const [i, { client }] of deployment.listeners.entries()) assert.deepEqual(client.rooms, ROOMS, `client ${i} is in its rooms`)
  t.diagnostic(`peak handshakes a second on one surviving node, per restart: ${peaks.join(', ')}`)
})
