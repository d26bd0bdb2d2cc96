/**
 * (a) Round trips per second, latency, and server CPU per round trip: 50 clients each keep 4
 * echo requests in flight. Each request carries its send time and the reply echoes it, so the
 * load keeps no table of pending requests.
 */
import { percentile } from '../stats.js'
import { connectMany, measureWindow, type Scenario } from './scenario.js'
import { sleep } from './time.js'

export const CLIENTS = 50
export const IN_FLIGHT = 4
export const WARMUP_MS = 500
export const WINDOW_MS = 2500
/** Latency samples kept (the first of the window); far more than loopback can do in WINDOW_MS. */
const MAX_SAMPLES = 2_000_000
/** Requests sent in all; a bound the time window reaches first. */
const MAX_REQUESTS = 20_000_000

export const roundTrips: Scenario = async (server, connect) => {
  const latencies = new Float64Array(MAX_SAMPLES)
  let sent = 0
  let completed = 0
  let sending = true
  let recording = false
  const clients = await connectMany(connect, server.url, CLIENTS, {
    onEcho: (sentAt, client) => {
      const now = performance.now()
      if (recording) {
        if (completed < MAX_SAMPLES) latencies[completed] = now - sentAt
        completed++
      }
      if (sending && sent < MAX_REQUESTS) {
        sent++
        client.echo(now)
      }
    }
  })
  for (const client of clients) {
    for (let i = 0; i < IN_FLIGHT; i++) {
      sent++
      client.echo(performance.now())
    }
  }
  await sleep(WARMUP_MS)

  const window = await measureWindow(server, async () => {
    recording = true
    await sleep(WINDOW_MS)
  })
  recording = false
  sending = false

  if (completed === 0) throw new Error('no round trip completed in the window')
  const samples = latencies.subarray(0, Math.min(completed, MAX_SAMPLES)).sort()
  return {
    rate: completed / (window.elapsedMs / 1000),
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    serverCpuUs: window.serverCpuUs / completed,
    loadCpuPercent: window.loadCpuPercent,
    otherCpuPercent: window.otherCpuPercent
  }
}
