/**
 * The load process's side of a target server: the server runs in its own child process (with
 * `--expose-gc`, for the memory scenario) and answers questions about itself over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process'
import type { TargetName } from '../config.js'
import type { EventLoopDelay, ServerMemory, ServerMessage, ServerRequest } from '../servers/child.js'
import { within } from './time.js'

const START_TIMEOUT = 15_000
const ANSWER_TIMEOUT = 10_000
const STOP_TIMEOUT = 5_000

// Compiled, the bench runs as .js from dist/bench; its tests run the .ts sources through tsx.
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

export class ServerProcess {
  readonly url: string
  readonly #child: ChildProcess
  readonly #waiting = new Map<number, (message: ServerMessage) => void>()
  #nextId = 0

  private constructor (child: ChildProcess, port: number) {
    this.#child = child
    this.url = `http://127.0.0.1:${port}`
    child.on('message', (message: ServerMessage) => {
      if ('id' in message) this.#waiting.get(message.id)?.(message)
    })
  }

  /**
   * Starts the `target` server; `env` adds to its environment (the plugin and Socket.IO read
   * `BENCH_REDIS` there).
   */
  static async start (target: TargetName, env: Record<string, string> = {}): Promise<ServerProcess> {
    const child = fork(new URL(`../servers/${target}${EXTENSION}`, import.meta.url), {
      execArgv: [...process.execArgv, '--expose-gc'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    try {
      const port = await within(START_TIMEOUT, `starting the ${target} server`, new Promise<number>((resolve, reject) => {
        child.on('message', (message: ServerMessage) => { if ('type' in message) resolve(message.port) })
        child.once('exit', (code) => reject(new Error(`the ${target} server exited with code ${code} while starting`)))
      }))
      return new ServerProcess(child, port)
    } catch (error) {
      child.kill('SIGKILL')
      throw error
    }
  }

  /**
   * The server's CPU time so far (user + system, all its threads), in microseconds; `ms` bounds the
   * wait for a server whose event loop is far behind (the chat scenario's may be).
   */
  async cpuTime (ms = ANSWER_TIMEOUT): Promise<number> {
    const answer = await this.#ask('cpu', ms)
    if (!('cpu' in answer)) throw new Error('the server did not report its CPU time')
    return answer.cpu
  }

  /** The server's memory after a full GC, and its connection count. */
  async memory (): Promise<ServerMemory> {
    const answer = await this.#ask('memory')
    if (!('memory' in answer)) throw new Error('the server did not report its memory')
    return answer.memory
  }

  /**
   * The event loop's delay since the previous call; the first call starts the server's monitor
   * (and answers zeros), so that a server no one asks runs without it.
   */
  async eventLoopDelay (ms = ANSWER_TIMEOUT): Promise<EventLoopDelay> {
    const answer = await this.#ask('eventLoop', ms)
    if (!('eventLoop' in answer)) throw new Error('the server did not report its event-loop delay')
    return answer.eventLoop
  }

  /** Lets the server exit by itself (so that `--cpu-prof` can write its profile), and kills it if it does not. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.disconnect()
    await within(STOP_TIMEOUT, 'stopping the server', exited).catch(() => child.kill('SIGKILL'))
  }

  #ask (type: ServerRequest['type'], ms = ANSWER_TIMEOUT): Promise<ServerMessage> {
    const id = ++this.#nextId
    const answer = new Promise<ServerMessage>((resolve) => this.#waiting.set(id, resolve))
    this.#child.send({ id, type } satisfies ServerRequest)
    return within(ms, `the server's ${type} answer`, answer).finally(() => this.#waiting.delete(id))
  }
}
