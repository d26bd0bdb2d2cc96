/**
 * A finished scale run and what its report reads from it: each figure by layout, target and
 * population; DESIGN.md's targets met or not; and the linear fits that extrapolate a target's cost.
 */
import { TARGETS, type TargetName } from '../config.js'
import { linearFit, type LinearFit } from '../stats.js'
import { FLAT_FROM, type ScaleGoal } from './metrics.js'
import type { LayoutName, ScaleFigures, ScaleMeasurement, ScaleRun } from './plan.js'

/** A target's figure and whether it is met; for a `flat` one, also how far apart its values are in all. */
export type ScaleVerdict = { value: number, met: boolean, at: number, spread?: number } | { value: null, met: null, at: null }

const KB = 1024
const MB = 1024 * 1024

export class ScaleSummary {
  readonly run: ScaleRun

  constructor (run: ScaleRun) {
    this.run = run
  }

  /** The targets measured in `layout`, in the bench's order. */
  targets (layout: LayoutName): TargetName[] {
    return TARGETS.filter((target) => this.run.measurements.some((measurement) => measurement.layout === layout && measurement.target === target))
  }

  /** The populations measured in one process, ascending. */
  sizes (): number[] {
    return [...new Set(this.#of('one').map(({ connections }) => connections))].sort((a, b) => a - b)
  }

  /** The largest population measured in one process, or null. */
  top (): number | null {
    return this.sizes().at(-1) ?? null
  }

  figures (layout: LayoutName, target: TargetName, connections?: number): ScaleFigures | null {
    const measurement = this.#of(layout).find((candidate) => candidate.target === target && (connections === undefined || candidate.connections === connections))
    return measurement?.result.ok === true ? measurement.result.figures as ScaleFigures : null
  }

  /** The measurement of `target` across processes, or undefined. */
  cluster (target: TargetName): ScaleMeasurement | undefined {
    return this.#of('cluster').find((measurement) => measurement.target === target)
  }

  /** `target`'s figure against the population, in one process, for the sizes that succeeded. */
  series (target: TargetName, figure: keyof ScaleFigures): Array<[number, number]> {
    return this.sizes().flatMap((size) => {
      const figures = this.figures('one', target, size)
      return figures === null ? [] : [[size, figures[figure]] as [number, number]]
    })
  }

  verdict (goal: ScaleGoal): ScaleVerdict {
    const none = { value: null, met: null, at: null }
    if (goal.kind === 'flat') {
      const values = this.series('plugin', goal.figure).filter(([size]) => size >= FLAT_FROM).map(([, value]) => value)
      if (values.length < 2) return none
      // Linear or better: the figure per connection never rises by more than `within` as the population
      // grows. It may fall: a fixed cost (a runtime's heap reserve, a say's own work) shared by more connections.
      const rise = Math.max(0, ...values.flatMap((value, index) => values.slice(index + 1).map((later) => later / value - 1)))
      const spread = Math.max(...values) / Math.min(...values) - 1
      return { value: rise, met: rise <= goal.within, at: this.top() ?? 0, spread }
    }
    const layout = goal.kind === 'top' ? 'one' : 'cluster'
    const at = goal.kind === 'top' ? this.top() : this.cluster('plugin')?.connections ?? null
    if (at === null) return none
    const plugin = this.figures(layout, 'plugin', at)?.[goal.figure]
    const base = goal.against === undefined ? 1 : this.figures(layout, goal.against, at)?.[goal.figure]
    if (plugin === undefined || base === undefined || base === 0) return none
    const value = plugin / base
    return { value, met: (goal.atLeast === undefined || value >= goal.atLeast) && (goal.atMost === undefined || value <= goal.atMost), at }
  }

  /** The line through `target`'s server RSS (bytes, base included) against the population, in one process. */
  memoryFit (target: TargetName): LinearFit | null {
    return this.#fit(target, (figures, size) => figures.baseRssMB * MB + figures.rssKB * KB * size)
  }

  /** The line through `target`'s idle CPU (% of a core, default heartbeat) against the population, in one process. */
  heartbeatFit (target: TargetName): LinearFit | null {
    return this.#fit(target, (figures) => figures.idleCpuPercent)
  }

  failures (): ScaleMeasurement[] {
    return this.run.measurements.filter((measurement) => !measurement.result.ok)
  }

  #fit (target: TargetName, y: (figures: ScaleFigures, size: number) => number): LinearFit | null {
    const points = this.sizes().flatMap((size) => {
      const figures = this.figures('one', target, size)
      return figures === null ? [] : [[size, y(figures, size)] as const]
    })
    return points.length < 2 ? null : linearFit(points)
  }

  #of (layout: LayoutName): ScaleMeasurement[] {
    return this.run.measurements.filter((measurement) => measurement.layout === layout)
  }
}
