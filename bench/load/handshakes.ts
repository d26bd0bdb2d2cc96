/**
 * (d) Handshakes per second: 50 loops, each connecting, waiting for the connection to open,
 * closing it and starting again, for a bounded time and count.
 */
import { connectOne, measureWindow, repeatConcurrently, type Scenario } from './scenario.js'

export const CONCURRENCY = 50
export const WARMUP = 500
export const WINDOW_MS = 2000
const MAX_HANDSHAKES = 30_000

export const handshakes: Scenario = async (server, connect) => {
  const handshake = async (): Promise<void> => {
    const client = await connectOne(connect, server.url, {})
    client.close()
  }
  await repeatConcurrently(WARMUP, CONCURRENCY, handshake)

  let count = 0
  const window = await measureWindow(server, async () => {
    const deadline = performance.now() + WINDOW_MS
    count = await repeatConcurrently(MAX_HANDSHAKES, CONCURRENCY, handshake, () => performance.now() >= deadline)
  })
  return {
    rate: count / (window.elapsedMs / 1000),
    serverCpuUs: window.serverCpuUs / count,
    loadCpuPercent: window.loadCpuPercent,
    otherCpuPercent: window.otherCpuPercent
  }
}
