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
