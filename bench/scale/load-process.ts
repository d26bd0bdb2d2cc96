/**
 * The orchestrator's side of a load process (`scale/load.ts` by default; the chat scenario's
 * `load/chat-members.ts` too): it sends a command and waits, within a deadline, for the report that
 * answers it. A load process that fails (a `failed` report) or exits rejects every wait.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { within } from '../load/time.js'
import type { LoadCommand, LoadReport } from './load.js'

const STOP_TIMEOUT = 5_000
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/** What every load process reports: its answers, each of a `type`, and `{ type: 'failed', error }` when something broke. */
interface AnyReport { type: string }

type ReportOf<Report, Type> = Extract<Report, { type: Type }>

interface Waiter<Report> {
  type: string
  resolve: (report: Report) => void
  reject: (error: Error) => void
}

export class LoadProcess<Command extends object = LoadCommand, Report extends AnyReport = LoadReport> {
  readonly name: string
  readonly #child: ChildProcess
  readonly #waiters = new Set<Waiter<Report>>()
  #failure: Error | null = null

  /** Forks `script` (by default bench:scale's load process), which exits when this process goes. */
  constructor (name: string, script: URL = new URL(`./load${EXTENSION}`, import.meta.url)) {
    this.name = name
    this.#child = fork(script, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (report: Report) => {
      if (report.type === 'failed' && 'error' in report) {
        this.#fail(new Error(`${name}: ${String(report.error)}`))
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
  next<Type extends Report['type']> (type: Type, ms: number): Promise<ReportOf<Report, Type>> {
    let waiter: Waiter<Report> | undefined
    const promise = new Promise<ReportOf<Report, Type>>((resolve, reject) => {
      if (this.#failure !== null) {
        reject(this.#failure)
        return
      }
      waiter = { type, resolve: resolve as (report: Report) => void, reject }
      this.#waiters.add(waiter)
    })
    const bounded = within(ms, `${this.name}: "${type}"`, promise).finally(() => { if (waiter !== undefined) this.#waiters.delete(waiter) })
    bounded.catch(() => {})
    return bounded
  }

  send (command: Command): void {
    if (this.#child.connected) this.#child.send(command)
  }

  /** Sends `command` and resolves with its answer, of `type`. */
  run<Type extends Report['type']> (command: Command, type: Type, ms: number): Promise<ReportOf<Report, Type>> {
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
