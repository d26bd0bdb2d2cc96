/**
 * The few statistics the bench reports: percentiles of latency samples, and medians with their
 * range across rounds.
 */

/** The `p` quantile (0..1) of `sorted` (ascending), by the nearest-rank method. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('no samples')
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number
}

/** The median of `values`: the middle one, or the mean of the two middle ones. */
export function median (values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('no values')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export interface Summary {
  median: number
  min: number
  max: number
  count: number
}

export function summarize (values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), count: values.length }
}

/** y = intercept + slope·x, and how much of y's variance it explains (r², 1 for points on the line). */
export interface LinearFit {
  slope: number
  intercept: number
  r2: number
}

/** The least-squares line through `points` ([x, y] pairs, at least two distinct x). */
export function linearFit (points: ReadonlyArray<readonly [number, number]>): LinearFit {
  const n = points.length
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  let sxx = 0
  let sxy = 0
  let syy = 0
  for (const [x, y] of points) {
    sxx += (x - meanX) ** 2
    sxy += (x - meanX) * (y - meanY)
    syy += (y - meanY) ** 2
  }
  if (n < 2 || sxx === 0) throw new RangeError('a line needs at least two distinct x')
  const slope = sxy / sxx
  return { slope, intercept: meanY - slope * meanX, r2: syy === 0 ? 1 : sxy * sxy / (sxx * syy) }
}
