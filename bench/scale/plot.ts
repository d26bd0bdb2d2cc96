/**
 * bench/scale.svg: every figure of SCALE_METRICS against the connection count, log-log, one panel
 * per figure, one line per target through its one-process populations, and a hollow mark for the
 * layout across processes. A straight line of slope 1 is a cost that grows linearly.
 */
import { TARGETS, TARGET_LABELS } from '../config.js'
import { COLORS, escape } from '../plot.js'
import { formatNumber } from '../report.js'
import { SCALE_METRICS, type ScaleMetric } from './metrics.js'
import type { ScaleRun } from './plan.js'
import { ScaleSummary } from './summary.js'

const COLUMNS = 3
const PANEL_WIDTH = 320
const PANEL_HEIGHT = 230
const TOP = 80
/** Inside a panel: room for the title above, the tick labels left and below. */
const PLOT_LEFT = 52
const PLOT_RIGHT = 16
const PLOT_TOP = 34
const PLOT_BOTTOM = 36
/** The least distance in pixels between two tick labels of an axis. */
const X_LABEL_ROOM = 40
const Y_LABEL_ROOM = 16
/** Ticks on a log axis at most, but for a range of very many decades. */
const MAX_TICKS = 7

export function renderScalePlot (run: ScaleRun): string {
  const summary = new ScaleSummary(run)
  const rows = Math.ceil(SCALE_METRICS.length / COLUMNS)
  const width = COLUMNS * PANEL_WIDTH + 20
  const height = TOP + rows * PANEL_HEIGHT + 10
  const clusterServers = run.measurements.find(({ layout }) => layout === 'cluster')?.servers
  const targets = TARGETS.filter((target) => run.measurements.some((measurement) => measurement.target === target))
  const title = `How cost grows with the connection count (log-log), ${run.date}${run.quick ? ': a smoke run (--quick)' : ''}`
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="Helvetica, Arial, sans-serif" font-size="11">',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`
  ]
  targets.forEach((target, i) => {
    const left = 10 + i * 180
    parts.push(`<line x1="${left}" y1="44" x2="${left + 18}" y2="44" stroke="${COLORS[target]}" stroke-width="2"/>`,
      `<circle cx="${left + 9}" cy="44" r="3" fill="${COLORS[target]}"/>`,
      `<text x="${left + 24}" y="48">${escape(TARGET_LABELS[target])}, one process</text>`)
  })
  if (clusterServers !== undefined) {
    parts.push('<circle cx="19" cy="64" r="4" fill="none" stroke="#333" stroke-width="1.5"/>',
      `<text x="28" y="68">${escape(`${clusterServers} processes on one Redis, all in one room (its target's colour)`)}</text>`)
  }
  SCALE_METRICS.forEach((metric, index) => {
    const left = 10 + (index % COLUMNS) * PANEL_WIDTH
    const top = TOP + Math.floor(index / COLUMNS) * PANEL_HEIGHT
    parts.push(...panel(summary, metric, left, top))
  })
  parts.push('</svg>', '')
  return parts.join('\n')
}

/** A log axis from `min` to `max` (both > 0) onto [from, to]. */
function logScale (min: number, max: number, from: number, to: number): (value: number) => number {
  const low = Math.log10(min)
  const span = Math.log10(max) - low
  return (value) => from + (Math.log10(value) - low) / span * (to - from)
}

/** The bounds of a log axis around `values`, at least a factor of 2 apart. */
function bounds (values: number[]): [number, number] {
  let min = Math.min(...values) / 1.15
  let max = Math.max(...values) * 1.15
  if (max / min < 2) {
    const middle = Math.sqrt(min * max)
    min = middle / Math.SQRT2
    max = middle * Math.SQRT2
  }
  return [min, max]
}

/** Round values within [min, max] to mark on a log axis: 1, 2 and 5 in each decade, more or fewer as the range needs. */
export function logTicks (min: number, max: number): number[] {
  const within = (steps: number[]): number[] => {
    const ticks: number[] = []
    for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
      for (const step of steps) {
        const value = step * 10 ** decade
        if (value >= min && value <= max) ticks.push(value)
      }
    }
    return ticks
  }
  const ticks = within([1, 2, 5])
  if (ticks.length < 3) return within([1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9])
  if (ticks.length <= MAX_TICKS) return ticks
  const powers = within([1])
  return powers.length >= 2 ? powers : ticks.filter((_, index) => index % Math.ceil(ticks.length / MAX_TICKS) === 0)
}

function panel (summary: ScaleSummary, metric: ScaleMetric, left: number, top: number): string[] {
  const targets = TARGETS.filter((target) => summary.run.measurements.some((measurement) => measurement.target === target))
  // Log axes hold positive values only: a figure at or below zero (a memory delta in the noise) is not drawn.
  const lines = targets.map((target) => ({ target, points: summary.series(target, metric.figure).filter(([, value]) => value > 0) }))
  const marks = targets.flatMap((target) => {
    const cluster = summary.cluster(target)
    const value = summary.figures('cluster', target)?.[metric.figure]
    return cluster === undefined || value === undefined || value <= 0 ? [] : [{ target, point: [cluster.connections, value] as [number, number] }]
  })
  const all = [...lines.flatMap(({ points }) => points), ...marks.map(({ point }) => point)]
  const parts = [`<text x="${left}" y="${top + 14}" font-weight="bold">${escape(metric.label)}</text>`,
    `<text x="${left}" y="${top + 27}" fill="#555">${escape(`${metric.unit}, ${metric.better} is better`)}</text>`]
  const x0 = left + PLOT_LEFT
  const x1 = left + PANEL_WIDTH - PLOT_RIGHT
  const y0 = top + PANEL_HEIGHT - PLOT_BOTTOM
  const y1 = top + PLOT_TOP
  if (all.length === 0) return [...parts, `<text x="${x0}" y="${(y0 + y1) / 2}" fill="#999">not measured</text>`]
  const [xMin, xMax] = bounds(all.map(([x]) => x))
  const [yMin, yMax] = bounds(all.map(([, y]) => y))
  const x = logScale(xMin, xMax, x0, x1)
  const y = logScale(yMin, yMax, y0, y1)
  parts.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#999"/>`)
  // A grid line at every tick; a label only where it has room from the previous one.
  let labelled = -Infinity
  for (const tick of logTicks(xMin, xMax)) {
    parts.push(`<line x1="${x(tick)}" y1="${y1}" x2="${x(tick)}" y2="${y0}" stroke="#eee"/>`)
    if (x(tick) - labelled < X_LABEL_ROOM) continue
    labelled = x(tick)
    parts.push(`<text x="${x(tick)}" y="${y0 + 14}" text-anchor="middle" fill="#555">${formatNumber(tick)}</text>`)
  }
  labelled = Infinity
  for (const tick of logTicks(yMin, yMax)) {
    parts.push(`<line x1="${x0}" y1="${y(tick)}" x2="${x1}" y2="${y(tick)}" stroke="#eee"/>`)
    if (labelled - y(tick) < Y_LABEL_ROOM) continue
    labelled = y(tick)
    parts.push(`<text x="${x0 - 4}" y="${y(tick) + 4}" text-anchor="end" fill="#555">${formatNumber(tick)}</text>`)
  }
  parts.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 28}" text-anchor="middle" fill="#555">connections</text>`)
  for (const { target, points } of lines) {
    if (points.length > 1) {
      parts.push(`<polyline fill="none" stroke="${COLORS[target]}" stroke-width="2" points="${points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')}"/>`)
    }
    for (const [px, py] of points) {
      parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${COLORS[target]}">` +
        `<title>${escape(`${TARGET_LABELS[target]}, ${formatNumber(px)} connections: ${formatNumber(py)} ${metric.unit}`)}</title></circle>`)
    }
  }
  for (const { target, point: [px, py] } of marks) {
    parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="4.5" fill="none" stroke="${COLORS[target]}" stroke-width="2">` +
      `<title>${escape(`${TARGET_LABELS[target]} across processes, ${formatNumber(px)} connections: ${formatNumber(py)} ${metric.unit}`)}</title></circle>`)
  }
  return parts
}
