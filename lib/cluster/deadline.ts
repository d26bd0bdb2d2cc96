/**
 * A bound on a wait for Redis: the nodes' requests, their write-backs and an emitter's calls each give
 * up after their own time, with their own error.
 */

/** `work`, or a rejection with `error()` once `ms` passed; the timer is cleared either way. */
export async function within<Result> (work: Promise<Result>, ms: number, error: () => Error): Promise<Result> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => reject(error()), ms)
  })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}
