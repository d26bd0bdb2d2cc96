/**
 * (c) Memory per idle connection: the server's RSS and heap after a full GC with 10,000 open
 * connections, minus the same before the first one, divided by the count.
 */
import { connectMany, type Scenario } from './scenario.js'
import { sleep } from './time.js'

export const CONNECTIONS = 10_000
/** How long the server may take to register the last connections once the clients see them open. */
const SETTLE_TIMEOUT = 10_000
const KB = 1024

export const idleMemory: Scenario = async (server, connect) => {
  const before = await server.memory()
  await connectMany(connect, server.url, CONNECTIONS, {})
  const deadline = performance.now() + SETTLE_TIMEOUT
  let after = await server.memory()
  while (after.connections < CONNECTIONS) {
    if (performance.now() > deadline) throw new Error(`the server holds ${after.connections} of ${CONNECTIONS} connections`)
    await sleep(200)
    after = await server.memory()
  }
  return {
    rssKB: (after.rss - before.rss) / CONNECTIONS / KB,
    heapKB: (after.heapUsed - before.heapUsed) / CONNECTIONS / KB
  }
}
