/**
 * What the metrics count, in plain numbers: a message costs a map lookup and an addition, not a
 * prom-client call (hundreds of ns each, with its label hashing). prometheus.ts reads these when the
 * registry is scraped. Every map here is keyed by a label value of a fixed set (metrics.ts), so none
 * grows with what clients send.
 */

/** Counts by one label's value. */
export class CountsBy {
  readonly counts = new Map<string, number>()

  add (value: string, by = 1): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + by)
  }
}

/** One histogram series: per bucket (upper bounds, ascending) the observations at most that, not cumulated yet. */
export interface Series {
  readonly labels: Readonly<Record<string, string>>
  readonly buckets: Float64Array
  sum: number
  count: number
}

/** Observations by label set, each a series over the same bucket bounds. */
export class Distribution {
  readonly bounds: readonly number[]
  readonly series = new Map<string, Series>()

  constructor (bounds: readonly number[]) {
    this.bounds = bounds
  }

  /** The series of `key` (the label values, joined), made with `labels` the first time. */
  seriesOf (key: string, labels: () => Record<string, string>): Series {
    let series = this.series.get(key)
    if (series === undefined) this.series.set(key, series = { labels: labels(), buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 })
    return series
  }

  observe (series: Series, value: number): void {
    series.sum += value
    series.count++
    const { bounds } = this
    for (let index = 0; index < bounds.length; index++) {
      if (value <= (bounds[index] as number)) {
        series.buckets[index] = (series.buckets[index] ?? 0) + 1
        return
      }
    }
  }
}
