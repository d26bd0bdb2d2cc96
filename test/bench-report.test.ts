/**
 * The bench's arithmetic and its report: percentiles, medians, ratios, docs/DESIGN.md verdicts, and the
 * RESULTS.md and SVG they make, from a run written by hand.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JobResult, ScenarioName, TargetName } from '../bench/config.js'
import { CHAT } from '../bench/load/chat-plan.js'
import { GOALS } from '../bench/metrics.js'
import { renderPlot } from '../bench/plot.js'
import { formatNumber, renderResults } from '../bench/report.js'
import { median, percentile, summarize } from '../bench/stats.js'
import { RunSummary, type Measurement, type Run } from '../bench/summary.js'

test('percentile takes the nearest rank of sorted samples', () => {
  const samples = Float64Array.from({ length: 100 }, (_, i) => i + 1)
  assert.equal(percentile(samples, 0.5), 50)
  assert.equal(percentile(samples, 0.99), 99)
  assert.equal(percentile(samples, 1), 100)
  assert.equal(percentile(samples, 0), 1)
  assert.equal(percentile([7], 0.99), 7)
  assert.throws(() => percentile([], 0.5), RangeError)
})

test('median takes the middle value, or the mean of the two middle values', () => {
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([4, 1, 3, 2]), 2.5)
  assert.throws(() => median([]), RangeError)
  assert.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5, count: 3 })
})

test('formatNumber keeps about three significant digits', () => {
  assert.equal(formatNumber(64162.51), '64,163')
  assert.equal(formatNumber(123.4), '123')
  assert.equal(formatNumber(17.56), '17.6')
  assert.equal(formatNumber(0.8512), '0.851')
})

/** A chat measurement's figures, from its p50 and p99 (the other latencies follow from them). */
function chatFigures (p50Ms: number, p99Ms: number): Record<string, number> {
  return {
    p50Ms,
    p99Ms,
    p999Ms: p99Ms * 1.5,
    maxMs: p99Ms * 2,
    serverCpuPercent: 40,
    deliveries: 2_970_000,
    lost: 0,
    saysPerSecond: 500,
    serverLoopMaxMs: p99Ms,
    loadLoopP99Ms: 3,
    loadLoopMaxMs: 12,
    loadCpuPercent: 60,
    otherCpuPercent: 5
  }
}

/** A run of three rounds in which the plugin's say to 5,000 fails once and its say to 1,000 always. */
function sampleRun (): Run {
  const figures: Partial<Record<TargetName, Partial<Record<ScenarioName, Record<string, number>>>>> = {
    ws: { roundTrips: { rate: 60_000, serverCpuUs: 13 }, say5000: { deliveryMs: 80 }, idleMemory: { rssKB: 6 }, handshakes: { rate: 3000 }, chat: chatFigures(2, 25) },
    primus: { roundTrips: { rate: 54_000, serverCpuUs: 16 }, say5000: { deliveryMs: 100 }, idleMemory: { rssKB: 11 }, handshakes: { rate: 2400 }, chat: chatFigures(3, 150) },
    socketio: { roundTrips: { rate: 40_000, serverCpuUs: 20 }, say5000: { deliveryMs: 96 }, idleMemory: { rssKB: 15 }, handshakes: { rate: 2000 }, chat: chatFigures(2.5, 30) },
    plugin: { roundTrips: { rate: 51_000, serverCpuUs: 16 }, say5000: { deliveryMs: 96 }, idleMemory: { rssKB: 11.5 }, handshakes: { rate: 2100 }, chat: chatFigures(2.2, 120) }
  }
  const measurements: Measurement[] = []
  for (const round of [1, 2, 3]) {
    for (const [target, byScenario] of Object.entries(figures) as Array<[TargetName, Record<string, Record<string, number>>]>) {
      for (const [scenario, values] of Object.entries(byScenario) as Array<[ScenarioName, Record<string, number>]>) {
        // Rounds 1 and 3 spread around round 2's figures, so that the median is round 2's.
        const spread = round === 2 ? 1 : round === 1 ? 0.9 : 1.2
        const scaled = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, value * spread]))
        const result: JobResult = target === 'plugin' && scenario === 'say5000' && round === 3
          ? { ok: false, error: 'roomAdd: the server answered "verb not found | not allowed"' }
          : { ok: true, figures: scaled }
        measurements.push({ round, target, scenario, result, repeats: 0 })
      }
      if (target === 'plugin') measurements.push({ round, target, scenario: 'say1000', result: { ok: false, error: 'no result within 120 s' }, repeats: 0 })
    }
  }
  return {
    date: '2026-01-01 12:00 UTC',
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, node: 'v20.0.0', os: 'Linux', loadAverage: 0.1 },
    rounds: 3,
    targets: ['ws', 'primus', 'socketio', 'plugin'],
    scenarios: ['roundTrips', 'say1000', 'say5000', 'idleMemory', 'handshakes', 'chat'],
    chat: { ...CHAT, windowMs: 30_000 },
    durationSeconds: 200,
    measurements
  }
}

test('a summary gives medians with their range, and ratios of medians', () => {
  const summary = new RunSummary(sampleRun())
  assert.deepEqual(summary.figure('ws', 'roundTrips.rate'), { median: 60_000, min: 54_000, max: 72_000, count: 3 })
  assert.equal(summary.ratio('plugin', 'roundTrips.rate'), 0.85)
  assert.equal(summary.ratio('plugin', 'roundTrips.rate', 'socketio'), 1.275)
  // The failed round is left out: the median of the two others.
  assert.deepEqual(summary.figure('plugin', 'say5000.deliveryMs'), { median: (86.4 + 96) / 2, min: 86.4, max: 96, count: 2 })
  assert.equal(summary.figure('plugin', 'say1000.deliveryMs'), null)
  assert.equal(summary.ratio('plugin', 'say1000.deliveryMs'), null)
  assert.equal(summary.failures().length, 4)
})

test('each docs/DESIGN.md target is met, not met, or not measured', () => {
  const summary = new RunSummary(sampleRun())
  const verdicts = Object.fromEntries(GOALS.map((goal) => [goal.text, summary.verdict(goal).met]))
  assert.deepEqual(verdicts, {
    'round trips ≥ 0.85 of raw ws': true,
    'round trips ≥ 1.2× Socket.IO': true,
    'server CPU per round trip ≤ 1.3× raw ws': true,
    'say to 5,000 ≤ 1.1× raw ws': false,
    'say to 5,000 with history ≤ 1.1× without': null,
    'round trips with metrics on ≥ 0.97 of off': null,
    'say to 5,000 with metrics on ≤ 1.03× off': null,
    'memory per idle connection ≤ 12 KB (RSS)': true,
    'handshakes/s ≥ 0.8 of raw ws': false,
    'chat delivery latency p99 ≤ 1.5× raw ws': false
  })
  const roundTrips = GOALS[0]
  assert.ok(roundTrips !== undefined)
  const noPlugin = new RunSummary({ ...sampleRun(), measurements: sampleRun().measurements.filter((m) => m.target !== 'plugin') })
  assert.deepEqual(noPlugin.verdict(roundTrips), { value: null, met: null })
})

test('RESULTS.md shows the machine, the verdicts, every figure with its range, and the failures', () => {
  const markdown = renderResults(new RunSummary(sampleRun()))
  assert.match(markdown, /\| CPU \| Test CPU, 2 cores \|/)
  assert.match(markdown, /\| Node\.js \| v20\.0\.0 \|/)
  assert.match(markdown, /\| round trips ≥ 0\.85 of raw ws \| 0\.85 \| met \|/)
  assert.match(markdown, /\| say to 5,000 ≤ 1\.1× raw ws \| 1\.14 \| \*\*not met\*\* \|/)
  assert.match(markdown, /\| memory per idle connection ≤ 12 KB \(RSS\) \| 11\.5 KB \| met \|/)
  assert.match(markdown, /\| round trips\/s, 50 clients × 4 in flight \(\/s\) \| 60,000 \(54,000–72,000\) \|/)
  assert.match(markdown, /91\.2 \(86\.4–96, 2 of 3 rounds\)/)
  assert.match(markdown, /\| say to a room of 1,000: until all have it \(ms\) \|.*\| failed \|/)
  // A failure's error is kept whole, with the table's separator escaped.
  assert.match(markdown, /\| 3 \| say5000 \| fastify-actionhero-ws \| roomAdd: the server answered "verb not found \\\| not allowed" \|/)
  assert.match(markdown, /a quiet run/)
})

test('RESULTS.md puts the chat latencies of every target side by side, with the p99 ratio and its target', () => {
  const markdown = renderResults(new RunSummary(sampleRun()))
  assert.match(markdown, /\| chat delivery latency p99 ≤ 1\.5× raw ws \| 4\.80 \| \*\*not met\*\* \|/)
  assert.match(markdown, /## Chat: what users feel\n\n10,000 members in rooms of 100, each saying 150 B once per 20 s on average \(500 says\/s, 49,500 deliveries\/s\), each target with its usual heartbeat, every delivery of a 30 s window/)
  assert.match(markdown, /\| raw ws \| 2 \| 25 \| 37\.5 \| 50 \| 1\.00× \| 2,970,000 \| 0 \| 40 \| 25 \| 3 \/ 12 \|/)
  assert.match(markdown, /\| Primus \| 3 \| 150 \| 225 \| 300 \| 6\.00× \|/)
  assert.match(markdown, /\| fastify-actionhero-ws \| 2\.2 \| 120 \| 180 \| 240 \| 4\.80× \|/)
  assert.match(markdown, /\| chat: delivery latency p99 \(lower is better\) \| 1\.00 \| 6\.00 \| 1\.20 \| 4\.80 \|/)
  // How: the heartbeats each target ran with, and the run's own window.
  assert.match(markdown, /- Chat: 10,000 members in rooms of 100, held by 4 load processes/)
  assert.match(markdown, /Primus and the plugin their default `pingInterval` \(30 s/)
  assert.match(markdown, /raw ws the one its README recommends/)
  assert.match(markdown, /every delivery of a say sent in the 30 s window counts/)

  const heartbeatsOff = sampleRun()
  heartbeatsOff.chat = { ...CHAT, heartbeats: false }
  const off = renderResults(new RunSummary(heartbeatsOff))
  assert.match(off, /deliveries\/s\), \*\*every heartbeat off\*\*, every delivery/)
  assert.match(off, /Every target ran without its heartbeat \(`--chat-heartbeat off`/)
  assert.doesNotMatch(off, /raw ws the one its README recommends/)

  // The plugin's variants are not in the chat scenario (it runs for the four targets it compares): no row of dashes.
  const withVariant = sampleRun()
  withVariant.targets = [...withVariant.targets, 'pluginMetrics']
  withVariant.measurements.push({ round: 1, target: 'pluginMetrics', scenario: 'roundTrips', result: { ok: true, figures: { rate: 50_000, serverCpuUs: 16 } }, repeats: 0 })
  const chatTable = renderResults(new RunSummary(withVariant)).split('## Chat: what users feel')[1]?.split('\n## ')[0] ?? ''
  assert.match(chatTable, /\| fastify-actionhero-ws \| 2\.2 \|/)
  assert.doesNotMatch(chatTable, /\| plugin, metrics on \|/)

  const withoutChat = sampleRun()
  withoutChat.scenarios = withoutChat.scenarios.filter((scenario) => scenario !== 'chat')
  assert.doesNotMatch(renderResults(new RunSummary(withoutChat)), /## Chat/)
})

test('RESULTS.md says when other processes made the run noisy, and which measurements were repeated', () => {
  const run = sampleRun()
  const [first, second] = run.measurements
  assert.ok(first?.result.ok && second !== undefined)
  first.result.figures.otherCpuPercent = 45
  first.repeats = 2
  second.repeats = 1
  const markdown = renderResults(new RunSummary(run))
  assert.match(markdown, /2 measurements were run again because other processes took more than 20% of a core during them/)
  assert.match(markdown, /Other processes took up to 45% of a core in some measurement windows/)
})

test('the plot has a bar per measured ratio and says what was not measured', () => {
  const svg = renderPlot(new RunSummary(sampleRun()))
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  assert.match(svg, /<\/svg>\n$/)
  assert.match(svg, /<title>fastify-actionhero-ws: 0\.85<\/title>/)
  assert.match(svg, /fastify-actionhero-ws: not measured/)
  assert.match(svg, /<title>round trips ≥ 0\.85 of raw ws<\/title>/)
  assert.doesNotMatch(svg, /NaN|undefined/)
})
