/**
 * What the report shows: every figure the scenarios measure, and docs/DESIGN.md's targets for this plugin.
 */
import type { ScenarioName, TargetName } from './config.js'
import { CONNECTIONS } from './load/idle-memory.js'
import { CLIENTS, IN_FLIGHT } from './load/round-trips.js'

export interface Metric {
  scenario: ScenarioName
  /** The key of the figure in the scenario's result. */
  figure: string
  label: string
  unit: string
  /** Which way is better; null for a figure shown for information, without ratios. */
  better: 'higher' | 'lower' | null
}

export const METRICS: readonly Metric[] = [
  { scenario: 'roundTrips', figure: 'rate', label: `round trips/s, ${CLIENTS} clients × ${IN_FLIGHT} in flight`, unit: '/s', better: 'higher' },
  { scenario: 'roundTrips', figure: 'p50Ms', label: 'round-trip latency p50', unit: 'ms', better: 'lower' },
  { scenario: 'roundTrips', figure: 'p99Ms', label: 'round-trip latency p99', unit: 'ms', better: 'lower' },
  { scenario: 'roundTrips', figure: 'serverCpuUs', label: 'server CPU per round trip', unit: 'µs', better: 'lower' },
  { scenario: 'roundTrips', figure: 'loadCpuPercent', label: 'load process CPU during round trips', unit: '% of a core', better: null },
  { scenario: 'roundTrips', figure: 'otherCpuPercent', label: 'other processes\' CPU during round trips', unit: '% of a core', better: null },
  { scenario: 'say1000', figure: 'deliveryMs', label: 'say to a room of 1,000: until all have it', unit: 'ms', better: 'lower' },
  { scenario: 'say1000', figure: 'serverCpuMs', label: 'server CPU per say to 1,000', unit: 'ms', better: 'lower' },
  { scenario: 'say5000', figure: 'deliveryMs', label: 'say to a room of 5,000: until all have it', unit: 'ms', better: 'lower' },
  { scenario: 'say5000', figure: 'serverCpuMs', label: 'server CPU per say to 5,000', unit: 'ms', better: 'lower' },
  { scenario: 'idleMemory', figure: 'rssKB', label: `RSS per idle connection, ${CONNECTIONS.toLocaleString('en-US')} connections`, unit: 'KB', better: 'lower' },
  { scenario: 'idleMemory', figure: 'heapKB', label: `heap per idle connection, ${CONNECTIONS.toLocaleString('en-US')} connections`, unit: 'KB', better: 'lower' },
  { scenario: 'handshakes', figure: 'rate', label: 'handshakes/s', unit: '/s', better: 'higher' },
  { scenario: 'handshakes', figure: 'serverCpuUs', label: 'server CPU per handshake', unit: 'µs', better: 'lower' },
  { scenario: 'handshakes', figure: 'loadCpuPercent', label: 'load process CPU during handshakes', unit: '% of a core', better: null },
  { scenario: 'handshakes', figure: 'otherCpuPercent', label: 'other processes\' CPU during handshakes', unit: '% of a core', better: null },
  { scenario: 'chat', figure: 'p50Ms', label: 'chat: delivery latency p50', unit: 'ms', better: 'lower' },
  { scenario: 'chat', figure: 'p99Ms', label: 'chat: delivery latency p99', unit: 'ms', better: 'lower' },
  { scenario: 'chat', figure: 'p999Ms', label: 'chat: delivery latency p99.9', unit: 'ms', better: 'lower' },
  { scenario: 'chat', figure: 'maxMs', label: 'chat: delivery latency max', unit: 'ms', better: 'lower' },
  { scenario: 'chat', figure: 'serverCpuPercent', label: 'chat: server CPU', unit: '% of a core', better: 'lower' },
  { scenario: 'chat', figure: 'deliveries', label: 'chat: deliveries measured', unit: 'deliveries', better: null },
  { scenario: 'chat', figure: 'lost', label: 'chat: deliveries lost', unit: 'deliveries', better: null },
  { scenario: 'chat', figure: 'saysPerSecond', label: 'chat: says', unit: '/s', better: null },
  { scenario: 'chat', figure: 'serverLoopMaxMs', label: 'chat: server event-loop delay, max', unit: 'ms', better: null },
  { scenario: 'chat', figure: 'loadLoopP99Ms', label: 'chat: load processes\' event-loop delay p99 (worst)', unit: 'ms', better: null },
  { scenario: 'chat', figure: 'loadLoopMaxMs', label: 'chat: load processes\' event-loop delay max (worst)', unit: 'ms', better: null },
  { scenario: 'chat', figure: 'loadCpuPercent', label: 'chat: load processes\' CPU', unit: '% of a core', better: null },
  { scenario: 'chat', figure: 'otherCpuPercent', label: 'other processes\' CPU during chat', unit: '% of a core', better: null },
  { scenario: 'presence', figure: 'plainCpuUs', label: 'server CPU per join or leave, room of 5,000 without presence', unit: 'µs', better: null },
  { scenario: 'presence', figure: 'presenceCpuUs', label: 'server CPU per join or leave, presence room of 5,000 (each told to all)', unit: 'µs', better: null },
  { scenario: 'presence', figure: 'deliveryMs', label: 'presence change in a room of 5,000: until all have it', unit: 'ms', better: null },
  { scenario: 'presence', figure: 'otherCpuPercent', label: 'other processes\' CPU during presence churn', unit: '% of a core', better: null }
]

export function metricId (metric: Metric): string {
  return `${metric.scenario}.${metric.figure}`
}

/**
 * A docs/DESIGN.md target for the plugin: its figure, or its ratio to another target's, bounded on one side.
 */
export interface Goal {
  text: string
  metric: string
  /** The target measured; default `plugin`. */
  target?: TargetName
  against?: TargetName
  atLeast?: number
  atMost?: number
}

export const GOALS: readonly Goal[] = [
  { text: 'round trips ≥ 0.85 of raw ws', metric: 'roundTrips.rate', against: 'ws', atLeast: 0.85 },
  { text: 'round trips ≥ 1.2× Socket.IO', metric: 'roundTrips.rate', against: 'socketio', atLeast: 1.2 },
  { text: 'server CPU per round trip ≤ 1.3× raw ws', metric: 'roundTrips.serverCpuUs', against: 'ws', atMost: 1.3 },
  { text: 'say to 5,000 ≤ 1.1× raw ws', metric: 'say5000.deliveryMs', against: 'ws', atMost: 1.1 },
  { text: 'say to 5,000 with history ≤ 1.1× without', metric: 'say5000.deliveryMs', against: 'pluginNoHistory', atMost: 1.1 },
  { text: 'round trips with metrics on ≥ 0.97 of off', metric: 'roundTrips.rate', target: 'pluginMetrics', against: 'plugin', atLeast: 0.97 },
  { text: 'say to 5,000 with metrics on ≤ 1.03× off', metric: 'say5000.deliveryMs', target: 'pluginMetrics', against: 'plugin', atMost: 1.03 },
  { text: 'memory per idle connection ≤ 12 KB (RSS)', metric: 'idleMemory.rssKB', atMost: 12 },
  { text: 'handshakes/s ≥ 0.8 of raw ws', metric: 'handshakes.rate', against: 'ws', atLeast: 0.8 },
  { text: 'chat delivery latency p99 ≤ 1.5× raw ws', metric: 'chat.p99Ms', against: 'ws', atMost: 1.5 }
]
