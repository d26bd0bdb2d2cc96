/**
 * What bench/SCALE.md shows: the figures of a population (see `population.ts`), and DESIGN.md's
 * targets for this plugin at scale.
 */
import type { TargetName } from '../config.js'
import type { ScaleFigures } from './plan.js'

export interface ScaleMetric {
  figure: keyof ScaleFigures
  label: string
  unit: string
  better: 'higher' | 'lower'
}

/** The figures plotted against the connection count, in the report's order. */
export const SCALE_METRICS: readonly ScaleMetric[] = [
  { figure: 'rssKB', label: 'RSS per idle connection', unit: 'KB', better: 'lower' },
  { figure: 'heapKB', label: 'heap per idle connection', unit: 'KB', better: 'lower' },
  { figure: 'idleCpuPer10kPercent', label: 'idle CPU per 10,000 connections (heartbeat)', unit: '% of a core', better: 'lower' },
  { figure: 'loopP99Ms', label: 'event-loop delay p99 while holding them', unit: 'ms', better: 'lower' },
  { figure: 'loopMaxMs', label: 'worst event-loop stall while holding them (heartbeat rounds included)', unit: 'ms', better: 'lower' },
  { figure: 'handshakeRate', label: 'handshakes/s while the population grows', unit: '/s', better: 'higher' },
  { figure: 'handshakeCpuUs', label: 'server CPU per handshake', unit: 'µs', better: 'lower' },
  { figure: 'sayMs', label: 'say to every member: until all have it', unit: 'ms', better: 'lower' },
  { figure: 'sayCpuMs', label: 'server CPU per say to every member', unit: 'ms', better: 'lower' },
  { figure: 'sayCpuPerMemberUs', label: 'server CPU per say, per member', unit: 'µs', better: 'lower' }
]

/** The figures of the layout across processes, in its table. */
export const CLUSTER_METRICS: readonly ScaleMetric[] = SCALE_METRICS.filter(({ figure }) =>
  ['rssKB', 'heapKB', 'idleCpuPer10kPercent', 'loopP99Ms', 'loopMaxMs', 'sayMs', 'sayCpuMs'].includes(figure))

/**
 * A DESIGN.md target: the plugin's figure (or its ratio to `against`'s) at the top of the
 * one-process sweep, bounded on one side; or how much a per-connection figure rises, at most, from
 * 1,000 connections to the top (flat: the cost grows linearly, not worse); or a ratio in the layout
 * across processes.
 */
export type ScaleGoal =
  | { text: string, kind: 'top', figure: keyof ScaleFigures, against?: TargetName, atMost?: number, atLeast?: number }
  | { text: string, kind: 'flat', figure: keyof ScaleFigures, within: number }
  | { text: string, kind: 'cluster', figure: keyof ScaleFigures, against: TargetName, atMost?: number, atLeast?: number }

/** Populations below this are not part of "flat from 1,000 to the top". */
export const FLAT_FROM = 1000

export const SCALE_GOALS: readonly ScaleGoal[] = [
  { text: 'memory per idle connection ≤ 8 KB (RSS) at the top of one process', kind: 'top', figure: 'rssKB', atMost: 8 },
  { text: 'handshakes/s ≥ 0.9× raw ws', kind: 'top', figure: 'handshakeRate', against: 'ws', atLeast: 0.9 },
  { text: 'idle heartbeat CPU ≤ 1% of a core per 10,000 connections', kind: 'top', figure: 'idleCpuPer10kPercent', atMost: 1 },
  { text: 'say to every member at the top of one process ≤ 1.1× raw ws', kind: 'top', figure: 'sayMs', against: 'ws', atMost: 1.1 },
  { text: 'memory per connection flat within 10%, 1,000 to the top (grows linearly, not worse)', kind: 'flat', figure: 'rssKB', within: 0.1 },
  { text: 'broadcast CPU per member flat within 10%, 1,000 to the top (grows linearly, not worse)', kind: 'flat', figure: 'sayCpuPerMemberUs', within: 0.1 },
  { text: 'say to every member across processes on Redis ≤ 0.8× Socket.IO with its Redis adapter', kind: 'cluster', figure: 'sayMs', against: 'socketio', atMost: 0.8 }
]
