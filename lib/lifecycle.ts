/**
 * The server's lifecycle as actions see it: whether shutdown has begun, and the work still running,
 * so that shutdown can let pending actions finish (within a bound) before it closes the sockets.
 */
export class Lifecycle {
  #closing = false
  #pending = 0
  #onIdle: Array<() => void> = []

  get closing (): boolean {
    return this.#closing
  }

  beginShutdown (): void {
    this.#closing = true
  }

  /** Counts `work` as pending until it settles. */
  track<T> (work: Promise<T>): Promise<T> {
    this.#pending++
    return work.finally(() => {
      if (--this.#pending === 0) for (const resolve of this.#onIdle.splice(0)) resolve()
    })
  }

  /** Resolves true once no work is pending, or false after `timeout` ms. */
  idle (timeout: number): Promise<boolean> {
    if (this.#pending === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onIdle = this.#onIdle.filter((waiter) => waiter !== done)
        resolve(false)
      }, timeout)
      const done = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      this.#onIdle.push(done)
    })
  }
}
