/**
 * bench/RESULTS.md: the machine, docs/DESIGN.md's targets met or not, the ratios to raw ws, every figure
 * with its range across rounds, the failures, and how it was all measured.
 */
import { NOISY_CPU_PERCENT, TARGET_LABELS, noiseOf, type TargetName } from './config.js'
import { CHAT, deliveriesPerSecond, saysPerSecond, type ChatSettings } from './load/chat-plan.js'
import * as handshakes from './load/handshakes.js'
import * as idleMemory from './load/idle-memory.js'
import * as presence from './load/presence.js'
import * as roundTrips from './load/round-trips.js'
import * as say from './load/say.js'
import { GOALS, METRICS, type Goal, type Metric } from './metrics.js'
import type { Machine, RunSummary } from './summary.js'

export function renderResults (summary: RunSummary): string {
  const { run } = summary
  const { machine } = run
  const header = ['', ...run.targets.map((target) => TARGET_LABELS[target])]
  const lines = [
    '# Benchmark results',
    '',
    `Measured by \`npm run bench\` on ${run.date}. Each figure is the median of ${run.rounds} rounds, with the lowest and ` +
      'highest in brackets; a ratio is a median over raw ws\'s median. Every measurement ran in a fresh load process ' +
      `against a fresh server process; targets ran in alternating order (${orders(run.targets)}).`,
    '',
    ...table(['machine', ''], [...machineRows(machine), ['duration of the run', duration(run.durationSeconds)]]),
    '',
    `> The load generator shares these ${machine.cores} cores with the server under test. ${noise(summary)}`,
    '',
    '![Ratios to raw ws](results.svg)',
    '',
    '## docs/DESIGN.md targets for fastify-actionhero-ws',
    '',
    ...table(['target', 'measured', ''], GOALS.map((goal) => goalRow(summary, goal))),
    '',
    '## Ratios to raw ws',
    '',
    ...table(header, METRICS.filter((metric) => metric.better !== null).map((metric) => [
      `${metric.label} (${metric.better} is better)`,
      ...run.targets.map((target) => {
        const ratio = summary.ratio(target, metric)
        return ratio === null ? missing(summary, target, metric) : ratio.toFixed(2)
      })
    ])),
    '',
    '## Figures',
    '',
    ...table(header, METRICS.map((metric) => [
      `${metric.label} (${metric.unit})`,
      ...run.targets.map((target) => {
        const figure = summary.figure(target, metric)
        if (figure === null) return missing(summary, target, metric)
        const rounds = figure.count < run.rounds ? `, ${figure.count} of ${run.rounds} rounds` : ''
        return `${formatNumber(figure.median)} (${formatNumber(figure.min)}–${formatNumber(figure.max)}${rounds})`
      })
    ])),
    ...chatSection(summary),
    ...failures(summary),
    '',
    '## How it is measured',
    '',
    '- Servers (`bench/servers/`): raw `ws` and Primus (transformer `websockets`, parser JSON) answer the part of PROTOCOL.md ' +
      'the bench uses (an `action` echo, `roomAdd`, `say`) with a JSON echo; Socket.IO 4 (WebSocket transport only) ' +
      'answers an emit with an ack; the plugin is the built `dist/` on Fastify with its defaults, `clientJsName: null` and ' +
      'one action, `echo`, whose inputs are validated. Each decodes the request, builds a reply object and encodes it.',
    '- Clients (`bench/clients/`): the `ws` client for raw ws, and for Primus and the plugin too, on `/primus` with ' +
      'Primus\'s wire format (JSON frames, pings answered), so that the load costs the same for the three and the ' +
      'rates compare servers; `socket.io-client` for Socket.IO. Raw ws, Primus and the plugin get the very same messages.',
    `- Round trips: ${roundTrips.CLIENTS} clients each keep ${roundTrips.IN_FLIGHT} echo requests in flight; ` +
      `${seconds(roundTrips.WARMUP_MS)} of warm-up, then a ${seconds(roundTrips.WINDOW_MS)} window opened and closed by ` +
      'the server\'s `process.cpuUsage()` readings (over IPC), which give the server CPU per round trip. Latency is ' +
      'measured from each request\'s send time, which the reply echoes.',
    '- Say: every client joins the room, the first one says, and the time runs until every other member has the ' +
      `message (median of ${say.BROADCASTS}, after one warm-up). Raw ws and Primus keep the bench's own small rooms ` +
      '(a set of members per room, joined with `roomAdd`): raw ws encodes the broadcast once and sends it to every ' +
      'other member; Primus writes it to every other member\'s spark (`spark.write`); Socket.IO uses ' +
      '`socket.to(room).emit`; the plugin\'s clients send `roomAdd` and then `say`.',
    '- Idle memory: the server\'s RSS and V8 heap after a full GC (`--expose-gc`) with ' +
      `${idleMemory.CONNECTIONS.toLocaleString('en-US')} open connections, minus the same before the first, divided by ` +
      'the count (KB of 1,024 bytes).',
    `- Handshakes: ${handshakes.CONCURRENCY} loops connect, wait for the open connection and close it, for ` +
      `${seconds(handshakes.WINDOW_MS)} after ${handshakes.WARMUP} unmeasured.`,
    chatMethod(run.chat ?? CHAT),
    `- Presence (the plugin alone): ${formatNumber(presence.MEMBERS)} members in two rooms, one with presence and one ` +
      `without; one more client joins and leaves each ${presence.CHANGES / 2} times. The server CPU per change in each ` +
      'room, and the median time until all members heard a presence change (its request\'s reply too).',
    '- Load and noise: for the round-trip and handshake windows, the load process\'s CPU (near 100% of a core, the ' +
      'load and not the server alone set the pace: each of the two gets about one core) and other processes\' CPU (the ' +
      'machine\'s busy time from `os.cpus()` minus the server\'s and the load\'s). The server CPU per operation is the ' +
      `figure that either moves least. A measurement during which other processes took more than ${NOISY_CPU_PERCENT}% ` +
      'of a core is run again (a bounded number of times) and the quietest run is kept.',
    ''
  ]
  return lines.join('\n')
}

const CHAT_P99: Metric = { scenario: 'chat', figure: 'p99Ms', label: '', unit: '', better: null }

/** The chat scenario's figures side by side: what users feel, and whether the load or the server made the tail. */
function chatSection (summary: RunSummary): string[] {
  const { run } = summary
  if (!run.scenarios.includes('chat')) return []
  const settings = run.chat ?? CHAT
  const cell = (target: TargetName, figure: string): string => {
    const value = summary.figure(target, `chat.${figure}`)
    return value === null ? missing(summary, target, { scenario: 'chat', figure, label: '', unit: '', better: null }) : formatNumber(value.median)
  }
  const ratio = (target: TargetName): string => {
    const value = summary.ratio(target, 'chat.p99Ms')
    return value === null ? '–' : `${value.toFixed(2)}×`
  }
  return [
    '',
    '## Chat: what users feel',
    '',
    `${formatNumber(settings.members)} members in rooms of ${settings.roomSize}, each saying ${settings.messageBytes} B ` +
      `once per ${seconds(settings.meanIntervalMs)} on average (${formatNumber(saysPerSecond(settings))} says/s, ` +
      `${formatNumber(deliveriesPerSecond(settings))} deliveries/s), ${settings.heartbeats ? 'each target with its usual heartbeat' : '**every heartbeat off**'}, ` +
      `every delivery of a ${seconds(settings.windowMs)} window; ` +
      'latency in ms, medians of the rounds. A load event-loop delay near the latency tail says the load, not the ' +
      'server, made it.',
    '',
    ...table(['target', 'p50', 'p99', 'p99.9', 'max', 'p99 / raw ws', 'deliveries', 'lost', 'server CPU (% of a core)',
      'server event-loop delay, max', 'load event-loop delay, p99 / max'],
    run.targets.filter((target) => summary.figure(target, 'chat.p99Ms') !== null || missing(summary, target, CHAT_P99) === 'failed')
      .map((target) => [TARGET_LABELS[target], cell(target, 'p50Ms'), cell(target, 'p99Ms'), cell(target, 'p999Ms'),
        cell(target, 'maxMs'), ratio(target), cell(target, 'deliveries'), cell(target, 'lost'), cell(target, 'serverCpuPercent'),
        cell(target, 'serverLoopMaxMs'), `${cell(target, 'loadLoopP99Ms')} / ${cell(target, 'loadLoopMaxMs')}`]))
  ]
}

/** How the chat scenario measures, with the settings of the run. */
function chatMethod (settings: ChatSettings): string {
  return `- Chat: ${formatNumber(settings.members)} members in rooms of ${settings.roomSize}, held by ` +
    `${settings.loadProcesses} load processes (whole rooms each, lean clients: \`ws\` speaking each target's wire ` +
    'format, Socket.IO\'s Engine.IO packets written by hand). Each member says a text of ' +
    `${settings.messageBytes} B at Poisson-distributed times, one per ${seconds(settings.meanIntervalMs)} on average; ` +
    'the text starts with its send time on the machine\'s monotonic clock, and a delivery\'s latency is its receipt ' +
    `time minus that. After ${seconds(settings.warmupMs)} of warm-up, every delivery of a say sent in the ` +
    `${seconds(settings.windowMs)} window counts; a delivery not there ${seconds(settings.drainMs)} after the window is ` +
    `lost. ${heartbeats(settings)} ` +
    'The rooms are the bench\'s own for raw ws and Primus (as in Say), Socket.IO rooms, the plugin\'s `roomAdd`/`say` ' +
    '(history on). The server\'s and the load processes\' event-loop delay (`monitorEventLoopDelay`, 10 ms) and CPU ' +
    'cover the window; the load processes\' CPU is load, not noise.'
}

/** The heartbeat each target ran with in the chat scenario. */
function heartbeats (settings: ChatSettings): string {
  if (!settings.heartbeats) {
    return 'Every target ran without its heartbeat (`--chat-heartbeat off`: Primus and the plugin with `pingInterval: false`, ' +
      'Socket.IO with a ping once an hour, raw ws with none), to show what the heartbeat adds to the tail.'
  }
  return 'Each target runs its usual heartbeat, as deployed: Primus and the plugin their default `pingInterval` ' +
    '(30 s, one round over every spark), Socket.IO its default (`pingInterval` 25 s, a timer per socket), raw ws the ' +
    'one its README recommends (a ping to every client every 30 s, terminated if the previous ping had no pong).'
}

/** A number with about three significant digits, and thousands separators above 1,000. */
export function formatNumber (value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US')
  return String(Number(value.toPrecision(3)))
}

function noise ({ run }: RunSummary): string {
  const repeated = run.measurements.filter((measurement) => measurement.repeats > 0).length
  const repeats = repeated === 0
    ? ''
    : `${repeated} measurements were run again because other processes took more than ${NOISY_CPU_PERCENT}% of a core ` +
      'during them; the quietest run is kept. '
  const worst = Math.max(0, ...run.measurements.map(({ result }) => noiseOf(result)))
  if (worst <= NOISY_CPU_PERCENT) {
    return `${repeats}Other processes took at most ${formatNumber(worst)}% of a core in every measurement window kept: a quiet run.`
  }
  return `${repeats}Other processes took up to ${formatNumber(worst)}% of a core in some measurement windows (see the rows ` +
    '"other processes\' CPU"): these figures are noisy. Rerun `npm run bench` on a quiet machine before relying on them.'
}

function goalRow (summary: RunSummary, goal: Goal): string[] {
  const { value, met } = summary.verdict(goal)
  if (value === null) return [goal.text, 'not measured', '**not measured**']
  const shown = goal.against === undefined ? `${formatNumber(value)} KB` : `${value.toFixed(2)}`
  return [goal.text, shown, met ? 'met' : '**not met**']
}

function missing (summary: RunSummary, target: TargetName, metric: Metric): string {
  const failed = summary.failures().some((measurement) => measurement.target === target && measurement.scenario === metric.scenario)
  return failed ? 'failed' : '–'
}

function failures (summary: RunSummary): string[] {
  const failed = summary.failures()
  if (failed.length === 0) return []
  return [
    '',
    '## Failures',
    '',
    ...table(['round', 'scenario', 'target', 'error'], failed.map(({ round, scenario, target, result }) =>
      [String(round), scenario, TARGET_LABELS[target], result.ok ? '' : result.error.replaceAll('|', '\\|')]))
  ]
}

function orders (targets: readonly TargetName[]): string {
  const forward = targets.join(', ')
  const backward = [...targets].reverse().join(', ')
  return `odd rounds ${forward}; even rounds ${backward}`
}

export function seconds (ms: number): string {
  return `${ms / 1000} s`
}

export function duration (totalSeconds: number): string {
  const minutes = Math.floor(totalSeconds / 60)
  return minutes === 0 ? `${Math.round(totalSeconds)} s` : `${minutes} min ${Math.round(totalSeconds % 60)} s`
}

/** The rows of a report's machine table that every bench shares. */
export function machineRows (machine: Machine): string[][] {
  return [
    ['CPU', `${machine.cpu}, ${machine.cores} cores`],
    ['memory', `${machine.memoryGiB.toFixed(1)} GiB`],
    ['Node.js', machine.node],
    ['OS', machine.os],
    ['load average before the run (1 min)', machine.loadAverage.toFixed(2)]
  ]
}

export function table (header: string[], rows: string[][]): string[] {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)]
}
