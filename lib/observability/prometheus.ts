/**
 * The Prometheus metrics of the `metrics` option, through prom-client (an optional peer, loaded only
 * when the option is on). The list, with types and labels, is docs/OPERATING.md's "Metrics".
 *
 * What happens is counted in plain numbers (tallies.ts) and handed to prom-client when the registry is
 * scraped: counters and gauges through their public `collect` hook. prom-client's Histogram has no
 * way to be given counts: a subclass answers the methods a scrape calls (`get`, and `getForPromString`,
 * which prom-client 15's registry prefers for the text format) with the series counted here, in the
 * shape `get` documents. test/metrics.test.ts pins both ways (the JSON and the text scrape).
 *
 * prom-client refuses a second metric of the same name in one registry, and several apps in one
 * process may share a registry (prom-client's default one, typically): the apps of one registry and
 * prefix share one set of metrics. Counters and histograms add up what every app counts; each gauge
 * reads every running app's sources when scraped, so a closed app no longer counts. The last app to
 * close removes the metrics from the registry.
 */
import type * as PromClient from 'prom-client'
import { InvalidOptionError } from '../errors.js'
import type { RefusalReason } from '../gate.js'
import type { ResolvedMetricsOptions } from '../options.js'
import type { GaugeSources, Metrics, ProtocolErrorCode, ReplayOutcome } from './metrics.js'
import { CountsBy, Distribution, type Series } from './tallies.js'
import type { TracedOutcome, TracedTransport } from './tracing.js'

type PromClientModule = typeof PromClient

/** What a message sent to a client is, by its `context` (PROTOCOL.md); a reply carries none when written. */
const SENT_CONTEXTS = new Set(['response', 'user', 'api', 'room', 'pushes'])

const REDIS_UP = 'redis_up'

const ACTION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const FANOUT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/** What one registry and prefix count, shared by the apps that use them. */
class Tallies {
  handshakesAccepted = 0
  readonly handshakesRefused = new CountsBy()
  readonly messagesReceived = new CountsBy()
  readonly messagesSent = new CountsBy()
  bytesReceived = 0
  bytesSent = 0
  readonly protocolErrors = new CountsBy()
  readonly actionDuration = new Distribution(ACTION_BUCKETS)
  slowReadersCut = 0
  readonly sayFanOut = new Distribution(FANOUT_BUCKETS)
  readonly historyReplays = new CountsBy()
  busMessagesDropped = 0
  membersReaped = 0
}

type HistogramValues = Awaited<ReturnType<PromClient.Histogram['get']>>

/** prom-client's Histogram, answering a scrape with a distribution counted elsewhere. */
function countedHistogramClass (client: PromClientModule): new (options: PromClient.HistogramConfiguration<string>, counted: Distribution) => PromClient.Histogram {
  return class CountedHistogram extends client.Histogram {
    readonly #counted: Distribution
    readonly #name: string
    readonly #help: string

    constructor (options: PromClient.HistogramConfiguration<string>, counted: Distribution) {
      super(options)
      this.#counted = counted
      this.#name = options.name
      this.#help = options.help
    }

    override async get (): Promise<HistogramValues> {
      return this.#values()
    }

    /** What prom-client 15's registry reads for the text format, instead of `get`. */
    async getForPromString (): Promise<HistogramValues> {
      return this.#values()
    }

    #values (): HistogramValues {
      const values: HistogramValues['values'] = []
      const name = this.#name
      for (const { labels, buckets, sum, count } of this.#counted.series.values()) {
        let cumulated = 0
        for (const [index, bound] of this.#counted.bounds.entries()) {
          cumulated += buckets[index] ?? 0
          values.push({ labels: { ...labels, le: bound }, value: cumulated, metricName: `${name}_bucket` })
        }
        values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${name}_bucket` })
        values.push({ labels, value: sum, metricName: `${name}_sum` })
        values.push({ labels, value: count, metricName: `${name}_count` })
      }
      // The shape prom-client's own Histogram#get returns (its type is the string 'histogram').
      return { name, help: this.#help, type: 'histogram', values, aggregator: 'sum' } as unknown as HistogramValues
    }
  }
}

/** The metrics of one registry and prefix, registered once and shared by the apps that use them. */
class Instruments {
  readonly apps = new Set<GaugeSources>()
  readonly tallies = new Tallies()
  users = 0
  readonly #client: PromClientModule
  readonly #prefix: string
  /** The metrics these instruments registered, with their names, for their removal. */
  readonly #made: Array<{ readonly name: string, readonly metric: object }> = []
  /** Exists while an app with Redis runs: without Redis there is no sample (a 0 would read as an outage). */
  #redisUp: PromClient.Gauge | null = null

  constructor (client: PromClientModule, readonly registry: PromClient.Registry, prefix: string) {
    this.#client = client
    this.#prefix = prefix
    const registers = [registry]
    const { apps, tallies } = this
    const made = (name: string, make: (name: string) => object): void => {
      this.#made.push({ name: prefix + name, metric: make(prefix + name) })
    }
    const gauge = (name: string, help: string, read: (sources: GaugeSources) => number): void => made(name, (full) => new client.Gauge({
      name: full,
      help,
      registers,
      collect () {
        let total = 0
        for (const sources of apps) total += read(sources)
        this.set(total)
      }
    }))
    const counter = (name: string, help: string, read: () => number): void => made(name, (full) => new client.Counter({
      name: full,
      help,
      registers,
      collect () {
        this.reset()
        this.inc(read())
      }
    }))
    const counterBy = (name: string, help: string, label: string, counts: CountsBy): void => made(name, (full) => new client.Counter({
      name: full,
      help,
      labelNames: [label],
      registers,
      collect () {
        this.reset()
        for (const [value, count] of counts.counts) this.inc({ [label]: value }, count)
      }
    }))
    const CountedHistogram = countedHistogramClass(client)
    const histogram = (name: string, help: string, labelNames: string[], counted: Distribution): void => made(name, (full) =>
      new CountedHistogram({ name: full, help, labelNames, buckets: [...counted.bounds], registers }, counted))
    try {
      gauge('connections_open', 'Connections open on this node', (sources) => sources.connections())
      gauge('rooms', 'Rooms with a member on this node', (sources) => sources.rooms().rooms)
      gauge('room_members', 'Room memberships of this node\'s connections', (sources) => sources.rooms().members)
      counter('handshakes_accepted_total', 'Socket handshakes that became connections', () => tallies.handshakesAccepted)
      counterBy('handshakes_refused_total', 'Socket handshakes the gate refused, by reason', 'reason', tallies.handshakesRefused)
      counterBy('messages_received_total', 'Client messages received, by event', 'event', tallies.messagesReceived)
      counterBy('messages_sent_total', 'Messages sent to clients, by context', 'context', tallies.messagesSent)
      counter('received_bytes_total', 'Bytes of the frames clients sent', () => tallies.bytesReceived)
      counter('sent_bytes_total', 'Bytes of the frames sent to clients, heartbeats included', () => tallies.bytesSent)
      counterBy('protocol_errors_total', 'Client messages refused before a handler ran, by code', 'code', tallies.protocolErrors)
      histogram('action_duration_seconds', 'Action run time, by action, transport and outcome', ['action', 'transport', 'outcome'], tallies.actionDuration)
      counter('slow_readers_cut_total', 'Connections cut for letting more than maxBufferedBytes wait', () => tallies.slowReadersCut)
      histogram('say_fanout_duration_seconds', 'Time to hand a room message to this node\'s members', [], tallies.sayFanOut)
      counterBy('history_replays_total', 'Replays of history after a position, by outcome', 'outcome', tallies.historyReplays)
      counter('bus_messages_dropped_total', 'Messages from other nodes dropped as malformed', () => tallies.busMessagesDropped)
      counter('members_reaped_total', 'Room members of dead nodes removed by this node', () => tallies.membersReaped)
    } catch (error) {
      this.remove()
      throw registerError(error)
    }
  }

  /** Adds an app's gauge sources; the first app with Redis brings `redis_up`. */
  add (sources: GaugeSources): void {
    this.apps.add(sources)
    if (sources.redisUp === null || this.#redisUp !== null) return
    const apps = this.apps
    try {
      this.#redisUp = new this.#client.Gauge({
        name: this.#prefix + REDIS_UP,
        help: 'Whether this node is connected to Redis (1) or not (0); absent without Redis',
        registers: [this.registry],
        collect () {
          // The lowest of the apps that use Redis: one app cut from Redis is an outage.
          let up = 1
          for (const app of apps) if (app.redisUp !== null) up = Math.min(up, app.redisUp())
          this.set(up)
        }
      })
    } catch (error) {
      this.apps.delete(sources)
      throw registerError(error)
    }
  }

  /** Forgets an app's gauge sources; `redis_up` goes with the last app with Redis. */
  delete (sources: GaugeSources): void {
    this.apps.delete(sources)
    if (this.#redisUp === null || [...this.apps].some((app) => app.redisUp !== null)) return
    this.registry.removeSingleMetric(this.#prefix + REDIS_UP)
    this.#redisUp = null
  }

  /** Removes from the registry what these instruments registered, and nothing else. */
  remove (): void {
    for (const { name, metric } of this.#made) {
      if (this.registry.getSingleMetric(name) === metric) this.registry.removeSingleMetric(name)
    }
  }
}

function registerError (error: unknown): Error {
  return new InvalidOptionError('metrics', `could not register its metrics (${(error as Error).message}): set metrics.prefix to a prefix no other metric uses`)
}

/** Instruments by registry, then prefix: what the apps of one process share. */
const shared = new WeakMap<PromClient.Registry, Map<string, Instruments>>()

const TRANSPORTS: readonly TracedTransport[] = ['socket', 'http']
const OUTCOMES: readonly TracedOutcome[] = ['ok', 'refused', 'error']

class PrometheusMetrics implements Metrics {
  readonly enabled = true
  readonly #instruments: Instruments
  readonly #tallies: Tallies
  readonly #prefixes: Map<string, Instruments>
  readonly #prefix: string
  /** Per action, its series by transport and outcome: no key is built per call. */
  readonly #actionSeries = new Map<string, Array<Series | undefined>>()
  readonly #fanOutSeries: Series
  #sources: GaugeSources | null = null
  #closed = false

  constructor (instruments: Instruments, prefixes: Map<string, Instruments>, prefix: string) {
    this.#instruments = instruments
    this.#tallies = instruments.tallies
    this.#prefixes = prefixes
    this.#prefix = prefix
    this.#fanOutSeries = this.#tallies.sayFanOut.seriesOf('', () => ({}))
    instruments.users++
  }

  watch (sources: GaugeSources): void {
    this.#instruments.add(sources)
    this.#sources = sources
  }

  handshakeAccepted (): void {
    this.#tallies.handshakesAccepted++
  }

  handshakeRefused (reason: RefusalReason): void {
    this.#tallies.handshakesRefused.add(reason)
  }

  messageReceived (event: string): void {
    this.#tallies.messagesReceived.add(event)
  }

  messageSent (message: object | undefined): void {
    const given = (message as { context?: unknown } | undefined)?.context
    this.#tallies.messagesSent.add(message === undefined ? 'response' : typeof given === 'string' && SENT_CONTEXTS.has(given) ? given : 'other')
  }

  bytesReceived (data: unknown): void {
    this.#tallies.bytesReceived += byteCount(data)
  }

  bytesSent (data: unknown): void {
    this.#tallies.bytesSent += byteCount(data)
  }

  protocolError (code: ProtocolErrorCode): void {
    this.#tallies.protocolErrors.add(code)
  }

  actionFinished (action: string, transport: TracedTransport, outcome: TracedOutcome, seconds: number): void {
    let byKind = this.#actionSeries.get(action)
    if (byKind === undefined) this.#actionSeries.set(action, byKind = [])
    const index = TRANSPORTS.indexOf(transport) * OUTCOMES.length + OUTCOMES.indexOf(outcome)
    const distribution = this.#tallies.actionDuration
    const series = byKind[index] ??= distribution.seriesOf(`${action}\0${transport}\0${outcome}`, () => ({ action, transport, outcome }))
    distribution.observe(series, seconds)
  }

  slowReaderCut (): void {
    this.#tallies.slowReadersCut++
  }

  sayFannedOut (seconds: number): void {
    this.#tallies.sayFanOut.observe(this.#fanOutSeries, seconds)
  }

  historyReplayed (outcome: ReplayOutcome): void {
    this.#tallies.historyReplays.add(outcome)
  }

  busMessageDropped (): void {
    this.#tallies.busMessagesDropped++
  }

  membersReaped (count: number): void {
    this.#tallies.membersReaped += count
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    const instruments = this.#instruments
    if (this.#sources !== null) instruments.delete(this.#sources)
    if (--instruments.users > 0) return
    instruments.remove()
    this.#prefixes.delete(this.#prefix)
  }
}

/** The bytes of a frame: a string's in UTF-8, a Buffer's, or the sum of an array of them (a transformer's batch). */
function byteCount (data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data)
  if (Buffer.isBuffer(data)) return data.length
  if (Array.isArray(data)) return data.reduce((sum: number, item) => sum + byteCount(item), 0)
  return 0
}

/** Loads prom-client and joins (or creates) the metrics of the registry and prefix the option names. */
export async function createPrometheusMetrics (options: ResolvedMetricsOptions): Promise<Metrics> {
  let client: PromClientModule
  try {
    const loaded = await import('prom-client') as PromClientModule & { default?: PromClientModule }
    client = loaded.default ?? loaded
  } catch {
    throw new InvalidOptionError('metrics', 'needs the package "prom-client", an optional peer dependency: npm install prom-client')
  }
  const registry = (options.registry ?? client.register) as PromClient.Registry
  let prefixes = shared.get(registry)
  if (prefixes === undefined) shared.set(registry, prefixes = new Map())
  let instruments = prefixes.get(options.prefix)
  if (instruments === undefined) prefixes.set(options.prefix, instruments = new Instruments(client, registry, options.prefix))
  return new PrometheusMetrics(instruments, prefixes, options.prefix)
}
