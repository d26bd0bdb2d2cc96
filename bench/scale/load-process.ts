/**
 * The orchestrator's side of a load process (`scale/load.ts`): it sends a command and waits, within
 * a deadline, for the report that answers it. A load process that fails or exits rejects every wait.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { within } from '../load/time.js'
import type { LoadCommand, LoadReport } from './load.js'

const STOP_TIMEOUT = 5_000
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

type ReportOf<Type extends LoadReport['type']> = Extract<LoadReport, { type: Type }>

interface Waiter {
  type: LoadReport['type']
  resolve: (report: LoadReport) => void
  reject: (error: Error) => void
}

export class LoadProcess {
  readonly name: string
  readonly #child: ChildProcess
  readonly #waiters = new Set<Waiter>()
  #failure: Error | null = null

  constructor (name: string) {
    this.name = name
    this.#child = fork(new URL(`./load${EXTENSION}`, import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (report: LoadReport) => {
      if (report.type === 'failed') {
        this.#fail(new Error(`${name}: ${report.error}`))
        return
      }
      for (const waiter of this.#waiters) {
        if (waiter.type !== report.type) continue
        this.#waiters.delete(waiter)
        waiter.resolve(report)
        return
      }
    })
    this.#child.once('exit', (code, signal) => this.#fail(new Error(`${name} exited (${signal ?? `code ${code}`})`)))
  }

  /**
   * Resolves with the next report of `type` (ask before sending what it answers), or rejects after
   * `ms`. The promise is marked handled, so that one left behind by a failed phase rejects quietly.
   */
  next<Type extends LoadReport['type']> (type: Type, ms: number): Promise<ReportOf<Type>> {
    let waiter: Waiter | undefined
    const promise = new Promise<ReportOf<Type>>((resolve, reject) => {
      if (this.#failure !== null) {
        reject(this.#failure)
        return
      }
      waiter = { type, resolve: resolve as (report: LoadReport) => void, reject }
      this.#waiters.add(waiter)
    })
    const bounded = within(ms, `${this.name}: "${type}"`, promise).finally(() => { if (waiter !== undefined) this.#waiters.delete(waiter) })
    bounded.catch(() => {})
    return bounded
  }

  send (command: LoadCommand): void {
    if (this.#child.connected) this.#child.send(command)
  }

  /** Sends `command` and resolves with its answer, of `type`. */
  run<Type extends LoadReport['type']> (command: LoadCommand, type: Type, ms: number): Promise<ReportOf<Type>> {
    const answer = this.next(type, ms)
    this.send(command)
    return answer
  }

  /** Lets the process exit (its connections close with it), and kills it if it does not. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    if (child.connected) child.disconnect()
    await within(STOP_TIMEOUT, `stopping ${this.name}`, exited).catch(() => child.kill('SIGKILL'))
  }

  #fail (error: Error): void {
    this.#failure ??= error
    for (const waiter of this.#waiters) waiter.reject(error)
    this.#waiters.clear()
  }
}
