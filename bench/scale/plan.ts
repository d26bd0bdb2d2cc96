/**
 * What `npm run bench:scale` measures and how it lays a population out over processes: the pure
 * part, shared by the orchestrator, its load processes and the report.
 */
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import type { JobResult, TargetName } from '../config.js'
import type { Machine } from '../summary.js'

/** One server process, swept up to its descriptor limit; or several on one Redis, sharing one room. */
export const LAYOUTS = ['one', 'cluster'] as const
export type LayoutName = typeof LAYOUTS[number]

/** The targets that scale out over Redis: this plugin, and Socket.IO with its Redis adapter. */
export const CLUSTER_TARGETS: readonly TargetName[] = ['socketio', 'plugin']

/** Descriptors a process keeps for itself (its files, pipes, IPC, Redis): never given to connections. */
export const DESCRIPTOR_MARGIN = 500

/** The load processes' source addresses: 127.0.0.2 to 127.0.0.254. */
const FIRST_SOURCE_HOST = 2
const MAX_SOURCE_HOST = 254

/**
 * Hands out source addresses so that a population never connects from an address the previous ones
 * used: their closed sockets keep their ports in TIME_WAIT for a minute, and a population of 19,500
 * must not depend on the kernel's rules for reusing those among some 28,000 ephemeral ports.
 */
export class SourceAddresses {
  #next = FIRST_SOURCE_HOST

  /** The first host of `loads` fresh addresses; after the last one, it starts again from the first. */
  take (loads: number): number {
    if (this.#next + loads - 1 > MAX_SOURCE_HOST) this.#next = FIRST_SOURCE_HOST
    const first = this.#next
    this.#next += loads
    return first
  }
}

/** One measurement: `connections` to `servers` processes of `target`, all of them members of one room. */
export interface Population {
  layout: LayoutName
  target: TargetName
  connections: number
  servers: number
}

/** One load process's part of a population. */
export interface LoadShare {
  /** The loopback address its sockets connect from, so that each address's ephemeral ports suffice. */
  localAddress: string
  /** How many connections it opens to each server, by the server's index. */
  perServer: number[]
}

/** The settings of a run, kept in the results so that the report can say how it was measured. */
export interface ScaleSettings {
  /** The descriptor limit of every process of the run (`ulimit -n`). */
  descriptorLimit: number
  /** The most connections one load process opens. */
  perLoadProcess: number
  /** How long the idle CPU is measured, with each target's default heartbeat. */
  idleWindowMs: number
  /** How long the event-loop delay is sampled, after the idle window. */
  eventLoopWindowMs: number
  /** Says timed after one warm-up. */
  broadcasts: number
  /** The connections opening at once, over all load processes. */
  connectConcurrency: number
}

export interface ScaleMeasurement extends Population {
  loadProcesses: number
  result: JobResult
}

export interface ScaleRun {
  date: string
  machine: Machine
  /** A `--quick` smoke run: small populations, short windows; not the figures of the issue. */
  quick: boolean
  settings: ScaleSettings
  durationSeconds: number
  measurements: ScaleMeasurement[]
  /** With `--merge`: the earlier run whose other measurements this one kept. */
  earlier?: { date: string, kept: number }
}

/** Whether two measurements are of the same population (layout, target, connections). */
export function samePopulation (a: Population, b: Population): boolean {
  return a.layout === b.layout && a.target === b.target && a.connections === b.connections
}

/**
 * `run`'s measurements in place of `earlier`'s of the same populations, the others of `earlier` kept:
 * a target measured again after a change, beside the others as they were.
 */
export function mergeRuns (earlier: ScaleRun, run: ScaleRun): ScaleRun {
  if (earlier.quick !== run.quick) throw new Error('--merge: a quick run and a full one do not go in one report')
  const replaced = earlier.measurements.map((old) => run.measurements.find((measurement) => samePopulation(old, measurement)) ?? old)
  const added = run.measurements.filter((measurement) => !earlier.measurements.some((old) => samePopulation(old, measurement)))
  const kept = replaced.filter((measurement) => earlier.measurements.includes(measurement)).length
  return { ...run, measurements: [...replaced, ...added], earlier: { date: earlier.date, kept } }
}

/** The figures of one population (see `scale/metrics.ts`); a type, not an interface, so that it is `Figures`. */
export type ScaleFigures = {
  rssKB: number
  heapKB: number
  baseRssMB: number
  idleCpuPercent: number
  idleCpuPer10kPercent: number
  loopP99Ms: number
  loopMaxMs: number
  handshakeRate: number
  handshakeCpuUs: number
  sayMs: number
  sayCpuMs: number
  sayCpuPerMemberUs: number
}

/** `count` split into `parts` nearly equal integers, the larger ones first. */
export function split (count: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(count / parts) + (index < count % parts ? 1 : 0))
}

/**
 * The load processes a population needs (as few as `perLoadProcess` allows), each with its source
 * address (127.0.0.`firstHost`, the next, ...) and its connections to each server. Connection c goes
 * to server c mod `servers` and to the load process whose range holds c: the servers get nearly equal
 * shares, each from every load process.
 */
export function planLoads (connections: number, servers: number, perLoadProcess: number, firstHost = FIRST_SOURCE_HOST): LoadShare[] {
  if (!Number.isInteger(connections) || connections < 2) throw new RangeError('a population needs at least 2 connections')
  const loads = Math.ceil(connections / perLoadProcess)
  if (firstHost < FIRST_SOURCE_HOST || firstHost + loads - 1 > MAX_SOURCE_HOST) throw new RangeError(`${loads} load processes from 127.0.0.${firstHost}: past the loopback addresses`)
  // How many of the connections [0, end) go to `server`.
  const below = (end: number, server: number): number => Math.max(0, Math.ceil((end - server) / servers))
  let start = 0
  return split(connections, loads).map((share, index) => {
    const end = start + share
    const perServer = Array.from({ length: servers }, (_, server) => below(end, server) - below(start, server))
    start = end
    return { localAddress: `127.0.0.${firstHost + index}`, perServer }
  })
}

/** The soft "Max open files" of `/proc/<pid>/limits` text, or null. */
export function parseOpenFilesLimit (limits: string): number | null {
  const match = /^Max open files\s+(\d+)/m.exec(limits)
  return match === null ? null : Number(match[1])
}

/** This process's descriptor limit, which its children inherit: from /proc on Linux, else `ulimit -n`. */
export function descriptorLimit (): number {
  try {
    const limit = parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'))
    if (limit !== null) return limit
  } catch {
    // Not Linux: ask the shell.
  }
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim())
  if (!Number.isInteger(limit)) throw new Error('cannot read the descriptor limit (ulimit -n)')
  return limit
}

/** The largest population one process may hold under `limit`. */
export function topOfOneProcess (limit: number): number {
  return limit - DESCRIPTOR_MARGIN
}
