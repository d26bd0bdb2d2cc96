/**
 * The chat scenario of `npm run bench`: its pure parts (the latency histogram, the Poisson schedule,
 * the messages that carry their send time, the layout of rooms over load processes), and a small
 * chat run end to end against every target, in real processes over real sockets.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TARGETS, type Job } from '../bench/config.js'
import { chat } from '../bench/load/chat.js'
import { CHAT, PoissonSchedule, chatMessage, deliveriesPerSecond, planChatRooms, saysPerSecond, seededRandom, sentAtOf, type ChatSettings } from '../bench/load/chat-plan.js'
import { ServerProcess } from '../bench/load/server-process.js'
import { CLIENTS } from '../bench/clients/index.js'
import { LatencyHistogram, percentile } from '../bench/stats.js'
import { waitFor } from './helpers.js'

test('the latency histogram gives percentiles within 1% above the samples\', and the exact max', () => {
  const random = seededRandom(7)
  // Latencies from 0.05 ms to about 2 s, spread over orders of magnitude as a tail is.
  const samples = Float64Array.from({ length: 100_000 }, () => 0.05 * Math.exp(random() * 10.6))
  const histogram = new LatencyHistogram()
  for (const sample of samples) histogram.record(sample)
  const sorted = samples.slice().sort()
  for (const p of [0, 0.5, 0.9, 0.99, 0.999, 1]) {
    const exact = percentile(sorted, p)
    const estimate = histogram.percentile(p)
    assert.ok(estimate >= exact && estimate <= exact * 1.01, `p${p * 100}: ${estimate} for ${exact}`)
  }
  assert.equal(histogram.count, 100_000)
  assert.equal(histogram.maxMs, sorted[sorted.length - 1])
  assert.equal(histogram.percentile(1), histogram.maxMs)
  assert.throws(() => new LatencyHistogram().percentile(0.5), RangeError)
})

test('histograms of several processes merge into the histogram of all their samples', () => {
  const random = seededRandom(3)
  const all = new LatencyHistogram()
  const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()]
  for (let i = 0; i < 30_000; i++) {
    const sample = random() * (i % 3 === 0 ? 500 : 20)
    all.record(sample)
    parts[i % 3]?.record(sample)
  }
  const merged = new LatencyHistogram()
  // As they travel over IPC: JSON.
  for (const part of parts) merged.merge(JSON.parse(JSON.stringify(part)))
  assert.deepEqual(merged.toJSON(), all.toJSON())
  assert.throws(() => merged.merge({ buckets: [1, 2], count: 3, maxMs: 1 }), RangeError)
  // Samples off either end count in the first or last bucket; the max stays exact.
  const edges = new LatencyHistogram()
  edges.record(0)
  edges.record(1e9)
  assert.equal(edges.percentile(0.5) <= 0.0101, true)
  assert.equal(edges.maxMs, 1e9)
})

test('the Poisson schedule says at the mean rate, with exponential gaps, any member alike, and replays from its seed', () => {
  const members = 2500
  const meanIntervalMs = 20_000
  const schedule = new PoissonSchedule(members, meanIntervalMs, 1000, seededRandom(42))
  const gaps: number[] = []
  const speakers = new Array<number>(members).fill(0)
  let previous = 1000
  for (let i = 0; i < 200_000; i++) {
    gaps.push(schedule.due - previous)
    previous = schedule.due
    const member = schedule.take()
    assert.ok(Number.isInteger(member) && member >= 0 && member < members)
    speakers[member] = (speakers[member] ?? 0) + 1
  }
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length
  // 125 says/s in all: a gap of 8 ms on average.
  assert.ok(Math.abs(mean - meanIntervalMs / members) < 0.02 * 8, `mean gap ${mean} ms`)
  // An exponential's standard deviation is its mean, and a third of its gaps are above the mean.
  const deviation = Math.sqrt(gaps.reduce((sum, gap) => sum + (gap - mean) ** 2, 0) / gaps.length)
  assert.ok(Math.abs(deviation / mean - 1) < 0.02, `coefficient of variation ${deviation / mean}`)
  const aboveMean = gaps.filter((gap) => gap > mean).length / gaps.length
  assert.ok(Math.abs(aboveMean - Math.exp(-1)) < 0.01, `share of gaps above the mean ${aboveMean}`)
  // 80 says each on average: every member speaks, none far more than the others.
  assert.ok(Math.min(...speakers) > 40 && Math.max(...speakers) < 130, `says per member from ${Math.min(...speakers)} to ${Math.max(...speakers)}`)

  const again = new PoissonSchedule(members, meanIntervalMs, 1000, seededRandom(42))
  const other = new PoissonSchedule(members, meanIntervalMs, 1000, seededRandom(43))
  assert.equal(again.due, 1000 + (gaps[0] ?? NaN))
  assert.notEqual(other.due, again.due)
  assert.throws(() => new PoissonSchedule(0, 1000, 0, Math.random), RangeError)
})

test('a chat message is exactly its size and carries its send time', () => {
  const message = chatMessage(123456789.125, 150)
  assert.equal(Buffer.byteLength(message), 150)
  assert.equal(sentAtOf(message), 123456789.125)
  assert.equal(Buffer.byteLength(chatMessage(1.5, 11)), 11)
  assert.ok(Number.isNaN(sentAtOf('hello, room')))
  assert.throws(() => chatMessage(123456789.125, 8), RangeError)
})

test('the rooms are laid out whole over the load processes, each once', () => {
  const plan = planChatRooms(CHAT)
  assert.equal(plan.length, 4)
  assert.deepEqual(plan.map((rooms) => rooms.length), [25, 25, 25, 25])
  assert.deepEqual(plan.flat().sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i))
  assert.equal(saysPerSecond(CHAT), 500)
  assert.equal(deliveriesPerSecond(CHAT), 49_500)
  assert.throws(() => planChatRooms({ ...CHAT, members: 10_050 }), RangeError)
  assert.throws(() => planChatRooms({ ...CHAT, members: 20_000 }), RangeError)
  assert.throws(() => planChatRooms({ ...CHAT, members: 300 }), RangeError)
})

/** A chat small and short enough for a test: 40 members in rooms of 10, 2 load processes, 20 says/s. */
const SMALL_CHAT: ChatSettings = {
  members: 40, roomSize: 10, meanIntervalMs: 2000, messageBytes: 150, warmupMs: 300, windowMs: 1500, drainMs: 5000, loadProcesses: 2, heartbeats: true
}

for (const target of TARGETS) {
  test(`a small chat against ${target} delivers every say of the window to the rest of its room, and measures it`, async (t) => {
    const server = await ServerProcess.start(target)
    t.after(() => server.stop())
    const job: Job = { target, scenario: 'chat', chat: SMALL_CHAT }
    const figures = await chat(server, CLIENTS[target](), job)
    assert.equal(figures.lost, 0)
    // Each say of the window reaches the 9 others of its room, and nothing else counts.
    assert.ok((figures.saysPerSecond ?? 0) > 0)
    assert.equal(figures.deliveries, Math.round((figures.saysPerSecond ?? 0) * 1.5) * 9)
    const { p50Ms = NaN, p99Ms = NaN, p999Ms = NaN, maxMs = NaN } = figures
    assert.ok(p50Ms > 0 && p50Ms <= p99Ms && p99Ms <= p999Ms && p999Ms <= maxMs, JSON.stringify(figures))
    for (const figure of ['serverCpuPercent', 'serverLoopMaxMs', 'loadLoopP99Ms', 'loadLoopMaxMs', 'loadCpuPercent', 'otherCpuPercent']) {
      assert.ok(Number.isFinite(figures[figure]) && (figures[figure] ?? -1) >= 0, `${figure}: ${figures[figure]}`)
    }
    // The members' processes have gone, and their connections with them.
    await waitFor(async () => (await server.memory()).connections === 0, 10_000)
  })
}
