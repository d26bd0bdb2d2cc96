/**
 * How late a process's event loop runs: a `perf_hooks` monitor whose 10 ms timer records the time
 * between its ticks, of which what exceeds 10 ms is the delay. Bench servers and load processes
 * both report it, so a reader can tell which of them made a tail.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

/** The event loop's delay (how late its timers ran) over a span, in ms. */
export interface EventLoopDelay {
  p99Ms: number
  maxMs: number
}

/** The monitor's sampling interval in ms: a libuv timer, running only once started. */
const EVENT_LOOP_RESOLUTION = 10
const NS_PER_MS = 1e6

export function startEventLoopMonitor (): IntervalHistogram {
  const monitor = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION })
  monitor.enable()
  return monitor
}

/** The delay `monitor` recorded since it started or was last read; reading it starts a new span. */
export function readEventLoopDelay (monitor: IntervalHistogram): EventLoopDelay {
  const late = (ns: number): number => Math.max(0, ns / NS_PER_MS - EVENT_LOOP_RESOLUTION)
  const delay = monitor.count === 0 ? { p99Ms: 0, maxMs: 0 } : { p99Ms: late(monitor.percentile(99)), maxMs: late(monitor.max) }
  monitor.reset()
  return delay
}
