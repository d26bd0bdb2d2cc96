/**
 * What a bench run is made of, shared by the orchestrator (`run.ts`) and the load process
 * (`load/main.ts`): the targets, the scenarios, and the job that passes between the two.
 */

import type { ChatSettings } from './load/chat-plan.js'

/** The servers compared, in the order of the first round; later rounds alternate it. */
export const TARGETS = ['ws', 'primus', 'socketio', 'plugin', 'pluginNoHistory', 'pluginMetrics'] as const
export type TargetName = typeof TARGETS[number]

export const TARGET_LABELS: Record<TargetName, string> = {
  ws: 'raw ws',
  primus: 'Primus',
  socketio: 'Socket.IO 4',
  plugin: 'fastify-actionhero-ws',
  /** The plugin with `history: false`: what room history costs a `say` (issue 12). */
  pluginNoHistory: 'plugin, history off',
  /** The plugin with `metrics: true`: what the Prometheus metrics cost (issue 20). */
  pluginMetrics: 'plugin, metrics on'
}

/** The scenarios, in the order each round runs them. */
export const SCENARIOS = ['roundTrips', 'say1000', 'say5000', 'idleMemory', 'handshakes', 'chat', 'presence'] as const
export type ScenarioName = typeof SCENARIOS[number]

/** Whether `scenario` is measured on `target`: presence (issue 22) is the plugin's alone. */
export function measuredOn (scenario: ScenarioName, target: TargetName): boolean {
  return scenario !== 'presence' || target === 'plugin'
}

/** The room every `say` scenario uses; the plugin creates it at boot. */
export const ROOM = 'bench'

/** The presence room of the presence scenario (issue 22), which the plugin creates at boot; `ROOM` has no presence. */
export const PRESENCE_ROOM = 'bench-presence'

/** The rooms of the chat scenario (`load/chat.ts`), which the plugin creates at boot too. */
export const CHAT_ROOM_COUNT = 100

export function chatRoom (index: number): string {
  return `chat-${index}`
}

/**
 * `BENCH_HEARTBEAT=off` in a target server's environment turns its heartbeat off (Socket.IO's cannot be:
 * its ping comes once an hour), for the chat scenario's comparison of the tail with and without it.
 */
export function heartbeatOff (): boolean {
  return process.env.BENCH_HEARTBEAT === 'off'
}

/** One measurement: one scenario against one target, in a fresh load process and a fresh server. */
export interface Job {
  target: TargetName
  scenario: ScenarioName
  /** The chat scenario's workload, when not `CHAT` (`load/chat-plan.ts`). */
  chat?: ChatSettings
}

/** A scenario's figures by name (see `metrics.ts`). */
export type Figures = Record<string, number>

export type JobResult = { ok: true, figures: Figures } | { ok: false, error: string }

/**
 * Other processes' CPU, as a share of one core, above which a measurement is noisy: it is repeated
 * (within a bound), and the report says so.
 */
export const NOISY_CPU_PERCENT = 20

/** The share of a core that other processes took during a job's measured window (0 when unknown). */
export function noiseOf (result: JobResult): number {
  return result.ok ? result.figures.otherCpuPercent ?? 0 : 0
}
