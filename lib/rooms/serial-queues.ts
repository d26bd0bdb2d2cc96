/**
 * Tasks run one after another per key (a connection, a room): what rooms keep in order while
 * middleware and stores answer asynchronously.
 */

/** Runs tasks one after another per key; a failed task does not stop the ones after it. */
export class SerialQueues {
  readonly #tails = new Map<string, Promise<void>>()

  busy (key: string): boolean {
    return this.#tails.has(key)
  }

  /** Resolves once the tasks queued for `key` so far are done. */
  async idle (key: string): Promise<void> {
    await this.#tails.get(key)
  }

  run<Result = void> (key: string, task: () => Promise<Result>): Promise<Result> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(task)
    const tail = result.then(() => {}, () => {})
    this.#tails.set(key, tail)
    tail.then(() => { if (this.#tails.get(key) === tail) this.#tails.delete(key) })
    return result
  }
}
