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

/** Relative width of a `LatencyHistogram` bucket: its percentiles are within 1% of the samples'. */
const BUCKET_GROWTH = 1.01
/** The lower edge of the first bucket in ms; every smaller sample counts in the first bucket. */
const SMALLEST_MS = 0.01
/** The upper edge of the last bucket in ms; every larger sample counts in the last bucket. */
const LARGEST_MS = 600_000
const BUCKETS = Math.ceil(Math.log(LARGEST_MS / SMALLEST_MS) / Math.log(BUCKET_GROWTH))

/** A `LatencyHistogram` as it travels between processes (over IPC, as JSON). */
export interface HistogramCounts {
  /** The count of each bucket, by index. */
  buckets: number[]
  count: number
  maxMs: number
}

/**
 * Latencies in ms, in buckets 1% wide from 0.01 ms to 10 min: millions of samples in a fixed 14 KB,
 * and histograms of several processes merge by adding their buckets. The max is kept exactly.
 */
export class LatencyHistogram {
  readonly #buckets = new Float64Array(BUCKETS)
  #count = 0
  #maxMs = 0

  get count (): number {
    return this.#count
  }

  get maxMs (): number {
    return this.#maxMs
  }

  record (ms: number): void {
    const index = ms <= SMALLEST_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / SMALLEST_MS) / Math.log(BUCKET_GROWTH)))
    this.#buckets[index] = (this.#buckets[index] as number) + 1
    this.#count++
    if (ms > this.#maxMs) this.#maxMs = ms
  }

  /** Adds the samples of `other` (another process's histogram) to these. */
  merge (other: HistogramCounts): void {
    if (other.buckets.length !== BUCKETS) throw new RangeError(`a histogram of ${other.buckets.length} buckets, not ${BUCKETS}`)
    other.buckets.forEach((count, index) => { this.#buckets[index] = (this.#buckets[index] as number) + count })
    this.#count += other.count
    this.#maxMs = Math.max(this.#maxMs, other.maxMs)
  }

  /**
   * The `p` quantile (0..1) by the nearest rank, as the upper edge of the bucket that holds it (never
   * more than the max): at most 1% above the sample's value.
   */
  percentile (p: number): number {
    if (this.#count === 0) throw new RangeError('no samples')
    const rank = Math.min(Math.max(Math.ceil(p * this.#count), 1), this.#count)
    let seen = 0
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.#buckets[index] as number
      if (seen >= rank) return Math.min(this.#maxMs, SMALLEST_MS * BUCKET_GROWTH ** (index + 1))
    }
    return this.#maxMs
  }

  toJSON (): HistogramCounts {
    return { buckets: Array.from(this.#buckets), count: this.#count, maxMs: this.#maxMs }
  }
}
