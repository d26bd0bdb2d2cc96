/**
 * bench/results.svg: for every compared figure, one bar per target with its ratio to raw ws (so raw
 * ws is 1), and a mark where docs/DESIGN.md puts the plugin's target.
 */
import { TARGET_LABELS, type TargetName } from './config.js'
import { GOALS, METRICS, metricId } from './metrics.js'
import type { RunSummary } from './summary.js'

export const COLORS: Record<TargetName, string> = { ws: '#4c78a8', primus: '#f58518', socketio: '#54a24b', plugin: '#e45756', pluginNoHistory: '#b279a2', pluginMetrics: '#9d755d' }
const WIDTH = 960
const LABELS_WIDTH = 330
const CHART_LEFT = LABELS_WIDTH + 10
const CHART_WIDTH = WIDTH - CHART_LEFT - 70
const TOP = 70
const BAR = 11
const BAR_GAP = 3
const GROUP_GAP = 14
/** Ratios above this are drawn to the edge, with their value written. */
const MAX_SCALE = 4

export function renderPlot (summary: RunSummary): string {
  const { targets } = summary.run
  const metrics = METRICS.filter((metric) => metric.better !== null)
  const ratios = metrics.flatMap((metric) => targets.map((target) => summary.ratio(target, metric) ?? 0))
  const scale = Math.min(MAX_SCALE, Math.max(1.5, Math.ceil(Math.max(...ratios) * 2) / 2))
  const x = (ratio: number): number => CHART_LEFT + Math.min(ratio, scale) / scale * CHART_WIDTH
  const groupHeight = 16 + targets.length * (BAR + BAR_GAP) + GROUP_GAP
  const height = TOP + metrics.length * groupHeight + 30

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      'font-family="Helvetica, Arial, sans-serif" font-size="12">',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${escape(`Ratio to raw ws (median of ${summary.run.rounds} rounds), ${summary.run.date}`)}</text>`
  ]
  targets.forEach((target, i) => {
    const left = 10 + i * 190
    parts.push(`<rect x="${left}" y="38" width="12" height="12" fill="${COLORS[target]}"/>`,
      `<text x="${left + 18}" y="48">${escape(TARGET_LABELS[target])}</text>`)
  })
  parts.push(`<rect x="${10 + targets.length * 190}" y="37" width="3" height="14" fill="#000"/>`,
    `<text x="${18 + targets.length * 190}" y="48">docs/DESIGN.md target</text>`)

  for (let tick = 0; tick <= scale; tick += 0.5) {
    const at = x(tick)
    const line = tick === 1 ? 'stroke="#333" stroke-dasharray="4 3"' : 'stroke="#ddd"'
    parts.push(`<line x1="${at}" y1="${TOP - 8}" x2="${at}" y2="${height - 26}" ${line}/>`,
      `<text x="${at}" y="${height - 12}" text-anchor="middle" fill="#555">${tick.toFixed(1)}</text>`)
  }

  const pluginRow = targets.indexOf('plugin')
  metrics.forEach((metric, m) => {
    const top = TOP + m * groupHeight
    const rowY = (row: number): number => top + 16 + row * (BAR + BAR_GAP)
    const goal = GOALS.find((candidate) => candidate.metric === metricId(metric) && candidate.against === 'ws')
    const goalX = goal === undefined || pluginRow === -1 ? null : x(goal.atLeast ?? goal.atMost ?? 1)
    parts.push(`<text x="10" y="${top + 10}" font-weight="bold">${escape(metric.label)}</text>`,
      `<text x="10" y="${top + 24}" fill="#555">${escape(`${metric.better} is better`)}</text>`)
    targets.forEach((target, row) => {
      const y = rowY(row)
      const ratio = summary.ratio(target, metric)
      if (ratio === null) {
        parts.push(`<text x="${CHART_LEFT + 4}" y="${y + BAR - 1}" fill="#999">${escape(`${TARGET_LABELS[target]}: not measured`)}</text>`)
        return
      }
      // The plugin's value is written past its target mark, so that the two never overlap.
      const labelX = Math.max(x(ratio), row === pluginRow && goalX !== null ? goalX + 2 : 0) + 4
      parts.push(`<rect x="${CHART_LEFT}" y="${y}" width="${x(ratio) - CHART_LEFT}" height="${BAR}" fill="${COLORS[target]}">` +
        `<title>${escape(`${TARGET_LABELS[target]}: ${ratio.toFixed(2)}`)}</title></rect>`,
      `<text x="${labelX}" y="${y + BAR - 1}" font-size="11">${ratio.toFixed(2)}</text>`)
    })
    if (goal !== undefined && goalX !== null) {
      parts.push(`<rect x="${goalX - 1.5}" y="${rowY(pluginRow) - 2}" width="3" height="${BAR + 4}" fill="#000"><title>${escape(goal.text)}</title></rect>`)
    }
  })
  parts.push('</svg>', '')
  return parts.join('\n')
}

export function escape (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
