/**
 * The heartbeat's schedule (lib/transport/heartbeat.ts): every client gets its pings, a round yields to
 * other work between its slices, a silent client is ended by the next round, on the direct path and on
 * a long-polling transformer, and the Primus client's ping timeout still comes from `pingInterval`.
 * (That nothing of it outlives `close()` is test/transformer-upgrades.test.ts's, on every transformer.)
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { createPrimus, SPARK_CLOSED, type PrimusSocket, type Spark } from '../lib/primus.js'
import { HeartbeatSchedule, SPREAD_SHARE } from '../lib/transport/heartbeat.js'
import { startApp, waitFor } from './helpers.js'
import { openPollingSession } from './transformer-helpers.js'

/** Enough sparks that a round's work (a socket write each) takes many slices. */
const CLIENTS = 3000

/** Raw `ws` clients on the Primus path that answer every ping as Primus's client does, and count them. */
async function pongingClients (t: TestContext, url: string, count: number): Promise<Array<() => number>> {
  const counters: Array<() => number> = []
  const opening: Array<Promise<unknown>> = []
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
    t.after(() => socket.terminate())
    let pings = 0
    socket.on('message', (data) => {
      const ping = /^"primus::ping::(\d+)"$/.exec(String(data))
      if (ping === null) return
      pings++
      socket.send(JSON.stringify(`primus::pong::${ping[1]}`))
    })
    counters.push(() => pings)
    opening.push(new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)))
    // A few hundred handshakes at once, not thousands: the test's own process serves them.
    if (opening.length % 200 === 0) await Promise.all(opening.slice(-200))
  }
  await Promise.all(opening)
  return counters
}

/** A Primus Node client with the server's own settings: its ping timeout is 1.5 `pingInterval`. */
function serverClient (t: TestContext, app: FastifyInstance, url: string, options: Record<string, unknown> = {}): PrimusSocket & { pingTimeout: () => number } {
  const Socket = app.actionheroWs.primus.Socket
  const socket = new Socket(url, { strategy: false, ...options }) as PrimusSocket & { options: { pingTimeout: number } }
  t.after(() => socket.end())
  return Object.assign(socket, { pingTimeout: () => socket.options.pingTimeout })
}

function sparksOf (app: FastifyInstance): Spark[] {
  return [...app.actionheroWs.connections.keys()].flatMap((id) => app.actionheroWs.primus.spark(id) ?? [])
}

test(`every one of ${CLIENTS} clients gets its pings, none is ended, and a round yields to other work before it ends`, { timeout: 120_000 }, async (t) => {
  const pingInterval = 2000
  const { app, url } = await startApp(t, { server: { pingInterval } })
  // Real Primus clients too: their ping timeout (1.5 intervals) never fires while pings are spread.
  const watched = Array.from({ length: 5 }, () => serverClient(t, app, url))
  const offline: string[] = []
  for (const client of watched) {
    assert.equal(client.pingTimeout(), 1.5 * pingInterval, 'the client library has its timeout from pingInterval')
    client.on('reconnect scheduled', () => offline.push('reconnect scheduled'))
    client.on('close', () => offline.push('close'))
  }
  const pings = await pongingClients(t, url, CLIENTS)
  const total = CLIENTS + watched.length
  await waitFor(() => app.actionheroWs.connections.size === total, 60_000)

  // Spark.heartbeat is writable by design: count a round's calls from its first spark's on (a round
  // walks sparks in the order they connected), and queue work as it starts.
  const sparks = sparksOf(app)
  let calledThisRound = 0
  const doneWhenQueuedWorkRan: number[] = []
  sparks.forEach((spark, index) => {
    const own = spark.heartbeat
    spark.heartbeat = function (this: Spark) {
      if (index === 0) {
        calledThisRound = 0
        setImmediate(() => doneWhenQueuedWorkRan.push(calledThisRound))
      }
      calledThisRound++
      own.call(this)
    }
  })

  const before = pings.map((count) => count())
  const watchedPings = watched.map(() => 0)
  watched.forEach((client, index) => client.on('incoming::ping', () => { watchedPings[index] = (watchedPings[index] ?? 0) + 1 }))
  await waitFor(() => pings.every((count, index) => count() >= (before[index] ?? 0) + 3) && watchedPings.every((count) => count >= 3), 60_000)

  assert.equal(app.actionheroWs.connections.size, total, 'every client answered in time: none was ended')
  assert.deepEqual(offline, [], 'no client\'s ping timeout fired')
  assert.ok(doneWhenQueuedWorkRan.length >= 3)
  for (const done of doneWhenQueuedWorkRan) {
    assert.ok(done < total, `work queued as a round began ran after ${done} of its ${total} pings, not after all of them`)
  }
})

test('a round spreads its pings over a quarter of the interval, so that a busy loop never gets them all at once', { timeout: 60_000 }, async (t) => {
  const pingInterval = 4000
  const { app, url } = await startApp(t, { server: { pingInterval } })
  await pongingClients(t, url, 1000)
  await waitFor(() => app.actionheroWs.connections.size === 1000, 30_000)
  // When each spark of one round is pinged (a round walks sparks in the order they connected).
  const sparks = sparksOf(app)
  const times: number[] = []
  for (const spark of sparks) {
    const own = spark.heartbeat
    spark.heartbeat = function (this: Spark) {
      if (times.length < sparks.length) times.push(performance.now())
      own.call(this)
    }
  }
  await waitFor(() => times.length === sparks.length, 3 * pingInterval)
  const span = (times.at(-1) ?? 0) - (times[0] ?? 0)
  // All at once, 1,000 pings take a few tens of ms; spread, the round lasts about a quarter of the interval.
  assert.ok(span >= pingInterval * SPREAD_SHARE / 2, `the round's pings spanned ${span.toFixed(0)} ms`)
  const firstHalf = times.filter((time) => time - (times[0] ?? 0) < span / 2).length
  assert.ok(firstHalf > sparks.length / 4 && firstHalf < sparks.length * 3 / 4, `${firstHalf} of ${sparks.length} pings in the round's first half: evenly spread`)
})

test('sparks ended during a round are not pinged by it, nor after', { timeout: 60_000 }, async (t) => {
  const { app, url } = await startApp(t, { server: { pingInterval: 200 } })
  await pongingClients(t, url, 500)
  await waitFor(() => app.actionheroWs.connections.size === 500)
  const sparks = sparksOf(app)
  const ended = new Set(sparks.slice(-50))
  let rounds = 0
  const pingedClosed: string[] = []
  sparks.forEach((spark, index) => {
    const own = spark.heartbeat
    spark.heartbeat = function (this: Spark) {
      if (this.readyState === SPARK_CLOSED || (ended.has(this) && rounds > 1)) pingedClosed.push(this.id)
      // As the second round begins, the last 50 sparks (not yet pinged in it) end.
      if (index === 0 && ++rounds === 2) for (const spark of ended) spark.end()
      own.call(this)
    }
  })
  await waitFor(() => rounds >= 4, 10_000)
  assert.deepEqual(pingedClosed, [])
  assert.equal(app.actionheroWs.connections.size, 450)
})

test('rounds that outlast the interval follow one another without overlapping: every spark once per round, in order', { timeout: 60_000 }, async (t) => {
  const SPARKS = 500
  const calls: number[] = []
  const timersDuringRound: boolean[] = []
  let inRound = false
  let connected = 0
  // Each spark's heartbeat is replaced as it connects, before any round reaches it: work of 100 µs
  // instead of a ping (no pong is awaited, none is ended), 50 ms a round, over the 20 ms interval.
  const instrument = (spark: Spark): void => {
    const index = connected++
    spark.heartbeat = function () {
      const until = performance.now() + 0.1
      while (performance.now() < until);
      calls.push(index)
      if (index === 0) {
        inRound = true
        setTimeout(() => timersDuringRound.push(inRound), 0)
      }
      if (index === SPARKS - 1) inRound = false
    }
  }
  const { app, url } = await startApp(t, { server: { pingInterval: 20 } }, { setup: (app) => { app.actionheroWs.primus.on('connection', instrument) } })
  await pongingClients(t, url, SPARKS)
  await waitFor(() => app.actionheroWs.connections.size === SPARKS, 30_000)
  // From the first round that began with every spark there on: 0, 1, ..., 499, 0, 1, ...
  const from = calls.length
  await waitFor(() => calls.length >= from + 5 * SPARKS, 30_000)
  const rounds = calls.slice(calls.indexOf(0, from))
  const full = Math.floor(rounds.length / SPARKS)
  assert.ok(full >= 3)
  assert.deepEqual(rounds.slice(0, full * SPARKS), Array.from({ length: full * SPARKS }, (_, i) => i % SPARKS))
  assert.ok(timersDuringRound.slice(-full).every(Boolean), 'a timer due as a round began ran before the round ended')
})

test('Primus keeps its heartbeat timer where the schedule takes it over; without one, the schedule changes nothing', () => {
  // Pins the one Primus internal the schedule leans on (`primus.heartbeatInterval`).
  const primus = createPrimus({ pathname: '/primus', pingInterval: 60_000 })
  const schedule = new HeartbeatSchedule(primus)
  try {
    assert.equal(schedule.start(), true)
  } finally {
    schedule.stop()
    primus.destroy({ close: false })
  }
  // Another Primus, whose timer is not found: its own round stays in charge, untouched.
  const other = createPrimus({ pathname: '/primus', pingInterval: 60_000 })
  const timer = (other as unknown as { heartbeatInterval: NodeJS.Timeout }).heartbeatInterval
  Object.assign(other, { heartbeatInterval: null })
  const fallback = new HeartbeatSchedule(other)
  try {
    assert.equal(fallback.start(), false)
    assert.equal(timer.hasRef(), true, 'Primus\'s own timer still runs')
  } finally {
    fallback.stop()
    clearInterval(timer)
    other.destroy({ close: false })
  }
  // No pingInterval: nothing to schedule.
  const quiet = createPrimus({ pathname: '/primus', pingInterval: false })
  assert.equal(new HeartbeatSchedule(quiet).start(), false)
  quiet.destroy({ close: false })
})

test('a raw client that stops answering is ended by the round after its unanswered ping, and others are not', { timeout: 60_000 }, async (t) => {
  const pingInterval = 200
  const { app, url } = await startApp(t, { server: { pingInterval } })
  await pongingClients(t, url, 50)
  const silent = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  t.after(() => silent.terminate())
  await new Promise((resolve, reject) => silent.once('open', resolve).once('error', reject))
  await waitFor(() => app.actionheroWs.connections.size === 51)
  const silentFrom = Date.now()
  await waitFor(() => silent.readyState === WebSocket.CLOSED, 2 * pingInterval + 3000)
  // Ended at the second round without a pong: within two intervals, and a margin for a busy machine.
  assert.ok(Date.now() - silentFrom < 2 * pingInterval + 1000, `ended ${Date.now() - silentFrom} ms after it connected`)
  await waitFor(() => app.actionheroWs.connections.size === 50)
})

test('engine.io long-polling: a Primus client gets its pings and stays; a session that never polls again is cut within two intervals', { timeout: 60_000 }, async (t) => {
  const pingInterval = 300
  const { app, url } = await startApp(t, { server: { transformer: 'engine.io', pingInterval } })
  const client = serverClient(t, app, url, { transport: { upgrade: false } })
  const offline: string[] = []
  client.on('reconnect scheduled', () => offline.push('reconnect scheduled'))
  let pings = 0
  client.on('incoming::ping', () => { pings++ })
  await waitFor(() => app.actionheroWs.connections.size === 1)
  const [spark] = sparksOf(app)
  assert.equal((spark?.socket as { transport?: { name?: string } } | null)?.transport?.name, 'polling')

  await openPollingSession(url, 'engine.io')
  await waitFor(() => app.actionheroWs.connections.size === 2)
  const silentFrom = Date.now()
  await waitFor(() => app.actionheroWs.connections.size === 1, 2 * pingInterval + 3000)
  const took = Date.now() - silentFrom
  assert.ok(took < 2 * pingInterval + 1000, `the silent session was ended ${took} ms after it opened`)
  // Cut, not closed politely: engine.io lets it go at once instead of keeping it 30 s for a last poll.
  const engine = (app.actionheroWs.primus as unknown as { transformer: { service: { clientsCount: number } } }).transformer.service
  await waitFor(() => engine.clientsCount === 1, 5000)

  await waitFor(() => pings >= 4, 10_000)
  assert.deepEqual(offline, [], 'the polling client\'s ping timeout never fired')
  assert.equal(app.actionheroWs.connections.size, 1)
})
