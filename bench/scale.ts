/**
 * `npm run bench:scale`: how cost grows with the population. One server process of each target
 * swept from 1,000 connections to as many as its descriptor limit allows, and 6 processes of this
 * plugin (and of Socket.IO with its Redis adapter) on one Redis holding 100,000 connections in one
 * room. Each measurement starts fresh server and load processes; the load is spread over as many
 * load processes as the descriptor limit needs, each from its own loopback address. Writes
 * bench/scale-results.json, bench/SCALE.md and bench/scale.svg.
 *
 * Options: --targets ws,primus,socketio,plugin, --sizes 1000,5000,10000,max, --scenarios one,cluster,
 * --cluster-servers 6, --cluster-connections 100000, --idle-seconds 60, --out DIR, --quick (a smoke
 * run: small populations and windows), --from FILE (only render the report of a results file), --merge
 * FILE (keep that run's measurements of the populations not measured now).
 * The cluster needs a Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379); its keys go under a
 * prefix of the run's own, deleted at the end.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { describeMachine, pick } from './cli.js'
import { TARGETS, TARGET_LABELS } from './config.js'
import { deleteKeys, runPrefix } from './redis-keys.js'
import { measurePopulation, stopEverything } from './scale/population.js'
import { renderScalePlot } from './scale/plot.js'
import {
  CLUSTER_TARGETS, LAYOUTS, SourceAddresses, descriptorLimit, mergeRuns, planLoads, topOfOneProcess, type Population, type ScaleMeasurement, type ScaleRun, type ScaleSettings
} from './scale/plan.js'
import { renderScale } from './scale/report.js'

const QUICK = { sizes: '250,1000,2000', idleSeconds: 4, broadcasts: 3, perLoadProcess: 1000, clusterServers: 3, clusterConnections: 2000 }
const FULL = { sizes: '1000,5000,10000,max', idleSeconds: 60, broadcasts: 5, clusterServers: 6, clusterConnections: 100_000 }
/** Connections opening at once over all load processes: as `npm run bench` opens them. */
const CONNECT_CONCURRENCY = 100

const { values: options } = parseArgs({
  options: {
    // History off is a say-latency comparison of `npm run bench`, not a scale one.
    targets: { type: 'string', default: TARGETS.filter((target) => target !== 'pluginNoHistory' && target !== 'pluginMetrics').join(',') },
    sizes: { type: 'string' },
    scenarios: { type: 'string', default: LAYOUTS.join(',') },
    'cluster-servers': { type: 'string' },
    'cluster-connections': { type: 'string' },
    'idle-seconds': { type: 'string' },
    out: { type: 'string', default: 'bench' },
    quick: { type: 'boolean', default: false },
    from: { type: 'string' },
    merge: { type: 'string' }
  }
})

const readRun = async (file: string): Promise<ScaleRun> => JSON.parse(await readFile(file, 'utf8')) as ScaleRun
// Read before measuring, so that a wrong path fails at once, not after the run.
const earlier = options.merge === undefined ? null : await readRun(options.merge)
const measured = options.from === undefined ? await measure() : await readRun(options.from)
const run = earlier === null ? measured : mergeRuns(earlier, measured)
await mkdir(options.out, { recursive: true })
if (options.from === undefined) await writeFile(join(options.out, 'scale-results.json'), JSON.stringify(run, null, 2) + '\n')
await writeFile(join(options.out, 'SCALE.md'), renderScale(run))
await writeFile(join(options.out, 'scale.svg'), renderScalePlot(run))
console.log(`Wrote ${join(options.out, 'SCALE.md')} and scale.svg.`)

async function measure (): Promise<ScaleRun> {
  const defaults = options.quick ? QUICK : FULL
  const limit = descriptorLimit()
  const top = topOfOneProcess(limit)
  const settings: ScaleSettings = {
    descriptorLimit: limit,
    perLoadProcess: options.quick ? QUICK.perLoadProcess : top,
    idleWindowMs: positive(options['idle-seconds'] ?? String(defaults.idleSeconds), 'idle-seconds') * 1000,
    // Half the idle window: 30 s by default, one heartbeat of Primus (and so of the plugin).
    eventLoopWindowMs: positive(options['idle-seconds'] ?? String(defaults.idleSeconds), 'idle-seconds') * 500,
    broadcasts: defaults.broadcasts,
    connectConcurrency: CONNECT_CONCURRENCY
  }
  const targets = pick(options.targets, TARGETS, 'targets')
  const layouts = pick(options.scenarios, LAYOUTS, 'scenarios')
  const sizes = [...new Set((options.sizes ?? defaults.sizes).split(',').map((size) => size.trim() === 'max' ? top : positive(size, 'sizes')))]
    .sort((a, b) => a - b)
  const clusterServers = positive(options['cluster-servers'] ?? String(defaults.clusterServers), 'cluster-servers')
  const clusterConnections = positive(options['cluster-connections'] ?? String(defaults.clusterConnections), 'cluster-connections')

  const populations: Population[] = []
  if (layouts.includes('one')) {
    for (const [index, connections] of sizes.entries()) {
      if (connections > top) throw new Error(`--sizes: ${connections} connections is more than one process may hold (${top}: ulimit -n ${limit} less a margin)`)
      // Alternating order, so that a drift of the machine does not always favour the same target.
      for (const target of index % 2 === 0 ? targets : [...targets].reverse()) populations.push({ layout: 'one', target, connections, servers: 1 })
    }
  }
  if (layouts.includes('cluster')) {
    if (Math.ceil(clusterConnections / clusterServers) > top) throw new Error(`--cluster-connections: more than ${top} per server process`)
    for (const target of targets.filter((name) => CLUSTER_TARGETS.includes(name))) {
      populations.push({ layout: 'cluster', target, connections: clusterConnections, servers: clusterServers })
    }
  }

  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const prefix = runPrefix()
  let interrupted = false
  const cleanUp = async (): Promise<void> => {
    await stopEverything()
    if (layouts.includes('cluster')) await deleteKeys(redisUrl, prefix)
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      console.log(`\n${signal}: stopping every process of the run and deleting its Redis keys`)
      cleanUp().finally(() => process.exit(1))
    })
  }

  const date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
  const machine = describeMachine()
  const started = performance.now()
  const addresses = new SourceAddresses()
  const measurements: ScaleMeasurement[] = []
  try {
    for (const population of populations) {
      if (interrupted) break
      const { layout, target, connections, servers } = population
      const loadProcesses = Math.ceil(connections / settings.perLoadProcess)
      const shares = planLoads(connections, servers, settings.perLoadProcess, addresses.take(loadProcesses))
      const start = performance.now()
      let measurement: ScaleMeasurement
      try {
        const redis = layout === 'cluster' ? { url: redisUrl, prefix } : null
        measurement = { ...population, loadProcesses, result: { ok: true, figures: await measurePopulation(population, shares, settings, redis) } }
      } catch (error) {
        measurement = { ...population, loadProcesses, result: { ok: false, error: error instanceof Error ? error.message : String(error) } }
      } finally {
        if (layout === 'cluster') await deleteKeys(redisUrl, prefix)
      }
      measurements.push(measurement)
      const { result } = measurement
      const figures = result.ok ? Object.entries(result.figures).map(([name, value]) => `${name} ${value.toFixed(2)}`).join(', ') : `FAILED: ${result.error}`
      console.log(`${layout.padEnd(7)} ${TARGET_LABELS[target].padEnd(22)} ${String(connections).padStart(6)} connections, ${servers} server(s), ` +
        `${loadProcesses} load process(es) from ${shares[0]?.localAddress}, ${((performance.now() - start) / 1000).toFixed(1)} s: ${figures}`)
    }
  } finally {
    await cleanUp()
  }
  return { date, machine, quick: options.quick, settings, durationSeconds: (performance.now() - started) / 1000, measurements }
}

function positive (text: string, option: string): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${option}: "${text}" is not a positive integer`)
  return value
}
