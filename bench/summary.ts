/**
 * A finished run and what the report reads from it: each figure's median and range across rounds,
 * ratios between targets, and docs/DESIGN.md's targets met or not.
 */
import type { JobResult, ScenarioName, TargetName } from './config.js'
import type { ChatSettings } from './load/chat-plan.js'
import { metricId, type Goal, type Metric } from './metrics.js'
import { summarize, type Summary } from './stats.js'

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  os: string
  /** The 1-minute load average just before the run: above zero, other work shared the machine. */
  loadAverage: number
}

/** One job's outcome. */
export interface Measurement {
  round: number
  target: TargetName
  scenario: ScenarioName
  result: JobResult
  /** How many times the job was run again because other processes were busy; `result` is the quietest run. */
  repeats: number
}

export interface Run {
  date: string
  machine: Machine
  rounds: number
  targets: TargetName[]
  scenarios: ScenarioName[]
  /** The chat scenario's workload, when the run measured it. */
  chat?: ChatSettings
  durationSeconds: number
  measurements: Measurement[]
}

export type Verdict = { value: number, met: boolean } | { value: null, met: null }

export class RunSummary {
  readonly run: Run
  readonly #figures = new Map<string, Summary>()

  constructor (run: Run) {
    this.run = run
    const values = new Map<string, number[]>()
    for (const { target, scenario, result } of run.measurements) {
      if (!result.ok) continue
      for (const [figure, value] of Object.entries(result.figures)) {
        if (!Number.isFinite(value)) continue
        const key = `${target} ${scenario}.${figure}`
        values.set(key, [...(values.get(key) ?? []), value])
      }
    }
    for (const [key, list] of values) this.#figures.set(key, summarize(list))
  }

  /** The median and range of `metric` for `target` across the rounds that measured it, or null. */
  figure (target: TargetName, metric: Metric | string): Summary | null {
    const id = typeof metric === 'string' ? metric : metricId(metric)
    return this.#figures.get(`${target} ${id}`) ?? null
  }

  /** `target`'s median over `against`'s, or null when either is missing. */
  ratio (target: TargetName, metric: Metric | string, against: TargetName = 'ws'): number | null {
    const value = this.figure(target, metric)
    const base = this.figure(against, metric)
    return value === null || base === null || base.median === 0 ? null : value.median / base.median
  }

  /** The plugin's figure (or ratio) for `goal`, and whether it meets it. */
  verdict (goal: Goal): Verdict {
    const target = goal.target ?? 'plugin'
    const value = goal.against === undefined ? this.figure(target, goal.metric)?.median ?? null : this.ratio(target, goal.metric, goal.against)
    if (value === null) return { value: null, met: null }
    return { value, met: (goal.atLeast === undefined || value >= goal.atLeast) && (goal.atMost === undefined || value <= goal.atMost) }
  }

  /** The jobs that failed, in the order they ran. */
  failures (): Measurement[] {
    return this.run.measurements.filter((measurement) => !measurement.result.ok)
  }
}
