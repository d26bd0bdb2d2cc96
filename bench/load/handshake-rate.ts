/**
 * The handshake rate a node sees: the most handshakes that fell in any window of `windowMs` (one
 * second by default), from the times (ms) its connections opened, as a rate per second.
 */
export function peakPerSecond (times: readonly number[], from = -Infinity, windowMs = 1000): number {
  const sorted = times.filter((time) => time >= from).sort((a, b) => a - b)
  let peak = 0
  for (let first = 0, last = 0; last < sorted.length; last++) {
    while ((sorted[last] as number) - (sorted[first] as number) >= windowMs) first++
    peak = Math.max(peak, last - first + 1)
  }
  return Math.round(peak * 1000 / windowMs)
}
