/**
 * What the metrics cost per round trip (one action over the socket): the calls the plugin makes for it
 * (the frame's bytes in, its event, the action's duration with its two clock reads, the reply and its
 * bytes out), with metrics on and off (the empty `NO_METRICS`), and what prom-client's own calls would
 * cost for the same, next to a round trip's server CPU (bench/RESULTS.md: about 15 µs); and per member
 * of a `say` (a say to 5,000 costs the server about 60 ms); and what the tracing channels cost an action
 * while nobody subscribes (the one check `ActionRegistry#run` makes).
 * Run: node --import tsx bench/metrics-cost.ts
 */
import { Counter, Histogram, Registry } from 'prom-client'
import { NO_METRICS, secondsSince, type Metrics } from '../lib/observability/metrics.js'
import { createPrometheusMetrics } from '../lib/observability/prometheus.js'
import { actionChannel, isTraced } from '../lib/observability/tracing.js'

const CALLS = 1_000_000
const FRAME = Buffer.from('{"event":"action","params":{"action":"echo","t":1733580000000,"text":"hello"},"messageId":12}')
const REPLY = '{"t":1733580000000,"text":"hello","context":"response","messageCount":12,"messageId":12}'

function roundTrip (metrics: Metrics): void {
  metrics.bytesReceived(FRAME)
  metrics.messageReceived('action')
  const started = metrics.enabled ? performance.now() : 0
  if (metrics.enabled) metrics.actionFinished('echo', 'socket', 'ok', secondsSince(started))
  metrics.messageSent(undefined)
  metrics.bytesSent(REPLY)
}

/** What one member of a `say` costs: the room message written to it, and its bytes. */
const CHAT = { context: 'user', room: 'bench', from: 'a', message: 'hello', sentAt: 1733580000000 }
const CHAT_FRAME = Buffer.from(JSON.stringify(CHAT))
function member (metrics: Metrics): void {
  metrics.messageSent(CHAT)
  metrics.bytesSent(CHAT_FRAME)
}

function nsPerCall (work: () => void): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < CALLS; i++) work()
  return Number(process.hrtime.bigint() - started) / CALLS
}

/** The best of three after a warm-up: what the code costs, not the machine's noise. */
function best (work: () => void): number {
  nsPerCall(work)
  return Math.min(...[0, 1, 2].map(() => nsPerCall(work)))
}

const on = await createPrometheusMetrics({ registry: new Registry(), prefix: 'bench_' })
const registry = new Registry()
const received = new Counter({ name: 'r', help: 'r', labelNames: ['event'], registers: [registry] }).labels('action')
const sent = new Counter({ name: 's', help: 's', labelNames: ['context'], registers: [registry] }).labels('response')
const bytesIn = new Counter({ name: 'bi', help: 'bi', registers: [registry] })
const bytesOut = new Counter({ name: 'bo', help: 'bo', registers: [registry] })
const duration = new Histogram({ name: 'd', help: 'd', labelNames: ['action', 'transport', 'outcome'], registers: [registry] }).labels('echo', 'socket', 'ok')
const promClientDirect = (): void => {
  bytesIn.inc(FRAME.length)
  received.inc()
  const started = performance.now()
  duration.observe(secondsSince(started))
  sent.inc()
  bytesOut.inc(Buffer.byteLength(REPLY))
}

console.log(`metrics off (NO_METRICS): ${best(() => roundTrip(NO_METRICS)).toFixed(0)} ns per round trip`)
console.log(`metrics on (tallies, prom-client at scrape): ${best(() => roundTrip(on)).toFixed(0)} ns per round trip`)
console.log(`metrics off, per member of a say: ${best(() => member(NO_METRICS)).toFixed(0)} ns; on: ${best(() => member(on)).toFixed(0)} ns`)
console.log(`prom-client called per message instead: ${best(promClientDirect).toFixed(0)} ns per round trip`)
let traced = 0
console.log(`tracing channels, nobody subscribed: ${best(() => { if (isTraced(actionChannel)) traced++ }).toFixed(1)} ns per action (${traced} traced)`)
on.close()
