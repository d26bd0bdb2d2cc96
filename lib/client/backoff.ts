/**
 * When the client tries to reconnect: every attempt, the first included, waits a random time between
 * `min` and a ceiling that grows exponentially (`min × factor^attempt`, at most `max`), so that the
 * clients of a node that went away do not all come back in the same instant, and come back more
 * slowly while the servers cannot take them.
 */

/** The client's `reconnect` option (Primus's keys; `reconnect timeout` is Primus's own). */
export interface ReconnectOptions {
  /** The shortest wait, in ms. Default 500. */
  min?: number
  /** The longest wait, in ms. Default 30000. */
  max?: number
  /** How fast the ceiling grows from one attempt to the next. Default 3: the first attempt comes within 0.5 to 1.5 s. */
  factor?: number
  /** Attempts before the client gives up (`disconnected`). Default: never gives up. */
  retries?: number
}

export const DEFAULT_RECONNECT = { min: 500, max: 30_000, factor: 3, retries: Infinity } as const

/** The wait before attempt `attempt` (1 for the first after the connection was lost), in ms. */
export function reconnectDelay (attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const min = options.min ?? DEFAULT_RECONNECT.min
  const max = Math.max(min, options.max ?? DEFAULT_RECONNECT.max)
  const ceiling = Math.min(max, min * Math.pow(options.factor ?? DEFAULT_RECONNECT.factor, attempt))
  return Math.round(min + random() * (ceiling - min))
}
