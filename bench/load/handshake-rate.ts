/**
 * The handshake rate a node sees: the most handshakes that fell in any one-second window, from the
 * times (ms) its connections opened.
 */
export function peakPerSecond (times: readonly number[], from = -Infinity, to = Infinity): number {
  const sorted = times.filter((time) => time >= from && time <= to).sort((a, b) => a - b)
  let peak = 0
  for (let first = 0, last = 0; last < sorted.length; last++) {
    while ((sorted[last] as number) - (sorted[first] as number) >= 1000) first++
    peak = Math.max(peak, last - first + 1)
  }
  return peak
}
