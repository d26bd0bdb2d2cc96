/**
 * bench/SCALE.md, from a results file: the machine and the settings, DESIGN.md's targets met or
 * missed, every figure by population and target, the layout across processes, the extrapolation to
 * 1,000,000 connections, the failures, and how it was all measured.
 */
import { TARGET_LABELS, type TargetName } from '../config.js'
import { duration, formatNumber, machineRows, seconds, table } from '../report.js'
import { CLUSTER_METRICS, FLAT_FROM, SCALE_GOALS, SCALE_METRICS, type ScaleGoal, type ScaleMetric } from './metrics.js'
import { DESCRIPTOR_MARGIN, type ScaleRun } from './plan.js'
import type { LinearFit } from '../stats.js'
import { ScaleSummary } from './summary.js'

/** Primus's ping interval, the longest of the targets' default heartbeats. */
const HEARTBEAT_MS = 30_000
/** The population the extrapolation is for. */
export const EXTRAPOLATE_TO = 1_000_000
const GiB = 2 ** 30

export function renderScale (run: ScaleRun): string {
  const summary = new ScaleSummary(run)
  const { machine, settings } = run
  const top = settings.descriptorLimit - DESCRIPTOR_MARGIN
  const shortWindow = settings.idleWindowMs < HEARTBEAT_MS ? ' (shorter than the heartbeats, every 25 to 30 s: the idle CPU misses most of them)' : ''
  const lines = [
    '# How cost grows with the connection count',
    '',
    ...(run.quick
      ? [
          '> **A smoke run, not the figures the issue asks for.** `npm run bench:scale -- --quick`, on a shared ' +
            `${machine.cores}-core machine while other work ran: populations of at most ${formatNumber(summary.top() ?? 0)} ` +
            `connections per process, ${seconds(settings.idleWindowMs)} idle windows${shortWindow}. It shows that the harness works and what ` +
            'this page looks like; run `npm run bench:scale` on a quiet machine for the sweep to the top of one process and ' +
            'the 100,000 connections across processes.',
          ''
        ]
      : []),
    `Measured by \`npm run bench:scale\` on ${run.date}, in ${duration(run.durationSeconds)}. Every population ran in fresh ` +
      'server and load processes; see "How it is measured" below.' +
      (run.earlier === undefined ? '' : ` ${formatNumber(run.earlier.kept)} of its ${formatNumber(run.measurements.length)} measurements were kept from an earlier run, on ${run.earlier.date} (\`--merge\`): the populations not measured again.`),
    '',
    ...table(['machine', ''], [
      ...machineRows(machine),
      ['descriptor limit per process (`ulimit -n`)', formatNumber(settings.descriptorLimit)],
      ['top of one process (the limit less a margin)', formatNumber(top)],
      ['connections per load process, at most', formatNumber(settings.perLoadProcess)]
    ]),
    '',
    '![Each figure against the connection count, log-log](scale.svg)',
    '',
    '## DESIGN.md targets for fastify-actionhero-ws',
    '',
    ...table(['target', 'measured', ''], SCALE_GOALS.map((goal) => goalRow(summary, goal))),
    '',
    `## One process, ${summary.sizes().map(formatNumber).join(', ')} connections`,
    '',
    ...SCALE_METRICS.flatMap((metric) => oneProcessTable(summary, metric)),
    ...clusterSection(summary),
    ...extrapolation(summary, top),
    ...failures(summary),
    '## How it is measured',
    '',
    '- Targets: the servers and clients of `npm run bench` (bench/RESULTS.md): raw `ws` and Primus with a JSON echo, ' +
      'Socket.IO 4 (WebSocket transport), this plugin from `dist/` on Fastify with its defaults. Each runs in its own process ' +
      '(`--expose-gc`), which reads its own CPU time, memory and event-loop delay and answers over IPC.',
    '- Load: as many load processes as the descriptor limit needs (at most ' +
      `${formatNumber(settings.perLoadProcess)} connections each), each connecting from a loopback address of its own ` +
      '(127.0.0.2, 127.0.0.3 and so on, `localAddress`; each population from addresses the previous ones did not use, ' +
      'whose ports may still be in TIME_WAIT), so that no source address runs short of ephemeral ports; ' +
      `${settings.connectConcurrency} connections open at once over all of them. Across processes, connection c goes to ` +
      'server c mod N, so every server gets an equal share from every load process.',
    '- Handshakes: the population opens from nothing; handshakes per second is the population over the time until every ' +
      'load process has all its connections open, and the server CPU per handshake is all servers\' CPU in that time over ' +
      'the population. On a machine this small the load processes share the cores with the servers and may set the ' +
      'pace: the server CPU per handshake is then the figure to compare servers by.',
    '- Memory: all servers\' RSS and V8 heap after a full GC with the population open, less the same before the first ' +
      'connection, over the population (KB of 1,024 bytes).',
    `- Idle CPU: all servers' CPU over ${seconds(settings.idleWindowMs)} with every connection idle but for the target's ` +
      'default heartbeat (Primus, and so the plugin: a ping every 30 s from one timer; Socket.IO: a ping every 25 s per ' +
      'socket; raw `ws`: none, so its figure is the floor of an idle process), as a share of one core, then per 10,000 ' +
      'connections. Then the event-loop delay (`perf_hooks.monitorEventLoopDelay`, how much later than its 10 ms tick each ' +
      `tick ran) over ${seconds(settings.eventLoopWindowMs)}: the monitor's timer costs about 0.4% of a core of its own, so it is ` +
      'off during the CPU window. Its p99, and its worst stall (the longest delay of any tick: a window at least as long as the ' +
      'heartbeat, 30 s, holds a heartbeat round of every target). Across processes both are the worst server\'s.',
    '- Say: every connection joins the room; the first connection that opened in the first load process says ' +
      `${settings.broadcasts} times after one warm-up; the time runs from the say until the last member of every load process has it, on the machine's clock ` +
      '(`performance.timeOrigin + performance.now()`, the same in every process), median of the says. The server CPU per say ' +
      'is all servers\' CPU over the says, per say, and per member (the population less the sender).',
    `- Memory per connection and broadcast CPU per member are "flat" when, from ${formatNumber(FLAT_FROM)} connections to the top, ` +
      'neither ever rises by more than 10% over its value at a smaller population: the cost grows linearly, not worse. Either may ' +
      'fall as the population grows, a fixed cost (the runtime\'s memory reserves, the work of a say besides its writes) being shared ' +
      'by more connections; "apart" says by how much their largest and smallest values differ in all.',
    '- Regenerate this page from its results without measuring: `npm run bench:scale -- --from bench/scale-results.json`.',
    ''
  ]
  return lines.join('\n')
}

function unitOf (figure: ScaleGoal['figure']): string {
  return SCALE_METRICS.find((metric) => metric.figure === figure)?.unit ?? ''
}

function goalRow (summary: ScaleSummary, goal: ScaleGoal): string[] {
  const verdict = summary.verdict(goal)
  const { value, met, at } = verdict
  if (value === null) return [goal.text, 'not measured', '**not measured**']
  let shown: string
  if (goal.kind === 'flat') {
    shown = `rises ${formatNumber(value * 100)}% at most, ${formatNumber(FLAT_FROM)} to ${formatNumber(at)} (${formatNumber((verdict.spread ?? 0) * 100)}% apart)`
  } else if (goal.against === undefined) {
    const unit = unitOf(goal.figure)
    shown = `${formatNumber(value)}${unit.startsWith('%') ? '' : ' '}${unit} at ${formatNumber(at)}`
  } else {
    shown = `${value.toFixed(2)}× at ${formatNumber(at)}`
  }
  return [goal.text, shown, met ? 'met' : '**missed**']
}

function oneProcessTable (summary: ScaleSummary, metric: ScaleMetric): string[] {
  const targets = summary.targets('one')
  if (targets.length === 0) return []
  const hasWs = targets.includes('ws') && targets.includes('plugin')
  const header = ['connections', ...targets.map((target) => TARGET_LABELS[target]), ...(hasWs ? ['plugin ÷ raw ws'] : [])]
  const rows = summary.sizes().map((size) => {
    const value = (target: TargetName): number | undefined => summary.figures('one', target, size)?.[metric.figure]
    const plugin = value('plugin')
    const ws = value('ws')
    return [
      formatNumber(size),
      ...targets.map((target) => cell(value(target), summary, 'one', target, size)),
      ...(hasWs ? [plugin === undefined || ws === undefined || ws === 0 ? '–' : (plugin / ws).toFixed(2)] : [])
    ]
  })
  return [`### ${metric.label} (${metric.unit}, ${metric.better} is better)`, '', ...table(header, rows), '']
}

function cell (value: number | undefined, summary: ScaleSummary, layout: 'one' | 'cluster', target: TargetName, connections: number): string {
  if (value !== undefined) return formatNumber(value)
  const failed = summary.failures().some((measurement) => measurement.layout === layout && measurement.target === target && measurement.connections === connections)
  return failed ? 'failed' : '–'
}

function clusterSection (summary: ScaleSummary): string[] {
  const targets = summary.targets('cluster')
  const first = targets[0] === undefined ? undefined : summary.cluster(targets[0])
  if (first === undefined) return []
  const both = targets.includes('plugin') && targets.includes('socketio')
  const header = ['', ...targets.map((target) => TARGET_LABELS[target]), ...(both ? ['plugin ÷ Socket.IO'] : [])]
  const rows = CLUSTER_METRICS.map((metric) => {
    const value = (target: TargetName): number | undefined => summary.figures('cluster', target)?.[metric.figure]
    const plugin = value('plugin')
    const socketio = value('socketio')
    return [
      `${metric.label} (${metric.unit})`,
      ...targets.map((target) => cell(value(target), summary, 'cluster', target, first.connections)),
      ...(both ? [plugin === undefined || socketio === undefined || socketio === 0 ? '–' : (plugin / socketio).toFixed(2)] : [])
    ]
  })
  return [
    `## Across ${first.servers} processes on one Redis, ${formatNumber(first.connections)} connections in one room`,
    '',
    `${first.servers} server processes of each target share one Redis (this plugin with its \`redis\` option; Socket.IO 4 ` +
      `with \`@socket.io/redis-adapter\`), each holding ${formatNumber(Math.ceil(first.connections / first.servers))} ` +
      `connections from ${first.loadProcesses} load processes; every connection joins the one room. Memory and CPU are all ` +
      'servers\' together, per connection and per say; the say starts on one server and reaches the others through Redis.',
    '',
    ...table(header, rows),
    ''
  ]
}

function extrapolation (summary: ScaleSummary, top: number): string[] {
  const targets = summary.targets('one')
  const fits = targets.flatMap((target) => {
    const memory = summary.memoryFit(target)
    const heartbeat = summary.heartbeatFit(target)
    return memory === null || heartbeat === null ? [] : [{ target, memory, heartbeat }]
  })
  if (fits.length === 0) return []
  const processes = Math.ceil(EXTRAPOLATE_TO / top)
  const inProcesses = (fit: LinearFit): number => (processes * fit.intercept + fit.slope * EXTRAPOLATE_TO) / GiB
  // Idle CPU that does not grow with the population (a slope at or below zero: noise) extrapolates to nothing.
  const heartbeatAt = (fit: LinearFit): string => fit.slope <= 0 ? '–' : `${formatNumber((fit.intercept + fit.slope * EXTRAPOLATE_TO) / 100)} cores`
  const rows = fits.map(({ target, memory, heartbeat }) => [
    TARGET_LABELS[target],
    `${formatNumber(memory.slope / 1024)} KB + ${formatNumber(memory.intercept / 2 ** 20)} MB (r² ${memory.r2.toFixed(3)})`,
    `${formatNumber((memory.intercept + memory.slope * EXTRAPOLATE_TO) / GiB)} GiB`,
    `${formatNumber(inProcesses(memory))} GiB`,
    heartbeat.slope <= 0 ? `no growth measured (r² ${heartbeat.r2.toFixed(3)})` : `${formatNumber(heartbeat.slope * 10_000)}% per 10,000 (r² ${heartbeat.r2.toFixed(3)})`,
    heartbeatAt(heartbeat)
  ])
  const plugin = fits.find(({ target }) => target === 'plugin')
  const pluginSentence = plugin === undefined
    ? ''
    : ` For this plugin that is ${formatNumber(inProcesses(plugin.memory))} GiB of server memory in ${processes} processes` +
      (plugin.heartbeat.slope <= 0 ? ', and no heartbeat CPU that grows with the population was measured.' : ` and ${heartbeatAt(plugin.heartbeat).replace('cores', 'of a core')} for the heartbeat alone.`)
  return [
    `## Extrapolated to ${formatNumber(EXTRAPOLATE_TO)} connections on one larger machine`,
    '',
    `How: a least-squares line through each target's one-process points (${summary.sizes().map(formatNumber).join(', ')} ` +
      'connections): the server\'s RSS after GC (base included) against the population, and its idle CPU with the default ' +
      `heartbeat against the population; then the line at ${formatNumber(EXTRAPOLATE_TO)}. In one process (a raised ` +
      `descriptor limit), the base is paid once; in ${processes} processes of ${formatNumber(top)} connections (the top of one ` +
      `process under this machine's limit), ${processes} times. It assumes the cost stays linear past the measured points (r² ` +
      'says how well a line fits them) and that the load, which this bench runs on the same machine, runs elsewhere.' +
      pluginSentence,
    '',
    ...table(['target', 'RSS = per connection × n + base', `RSS at ${formatNumber(EXTRAPOLATE_TO)}, one process`,
      `RSS at ${formatNumber(EXTRAPOLATE_TO)}, ${processes} processes`, 'idle heartbeat CPU', `heartbeat at ${formatNumber(EXTRAPOLATE_TO)}`], rows),
    ''
  ]
}

function failures (summary: ScaleSummary): string[] {
  const failed = summary.failures()
  if (failed.length === 0) return []
  return [
    '## Failures',
    '',
    ...table(['layout', 'target', 'connections', 'error'], failed.map(({ layout, target, connections, result }) =>
      [layout, TARGET_LABELS[target], formatNumber(connections), result.ok ? '' : result.error.replaceAll('|', '\\|')])),
    ''
  ]
}
