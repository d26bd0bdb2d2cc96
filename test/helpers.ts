/**
 * Test helpers: a real app on 127.0.0.1 with the plugin, and a real Primus client that keeps what it
 * receives and waits for the reply to each request by `messageId`.
 */
import type { TestContext } from 'node:test'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import actionheroWs, { type ActionheroWsOptions } from '../lib/index.js'
import { createPrimusSocket, type PrimusSocket, type PrimusSocketConstructor } from '../lib/primus.js'

export interface RunningApp {
  app: FastifyInstance
  url: string
  port: number
}

/** A listening app with the plugin; closed when the test ends. */
export async function startApp (
  t: TestContext,
  options: ActionheroWsOptions = {},
  { setup, fastify, port = 0 }: { setup?: (app: FastifyInstance) => void | Promise<void>, fastify?: FastifyServerOptions, port?: number } = {}
): Promise<RunningApp> {
  const app = Fastify({ logger: false, ...fastify })
  await app.register(actionheroWs, { clientJsName: null, ...options })
  await setup?.(app)
  await app.listen({ port, host: '127.0.0.1' })
  t.after(() => app.close())
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a port')
  return { app, url: `http://127.0.0.1:${address.port}`, port: address.port }
}

let Socket: PrimusSocketConstructor | undefined

/** The Node.js Primus client for the plugin's default transformer and parser. */
export function primusClient (): PrimusSocketConstructor {
  Socket ??= createPrimusSocket({ transformer: 'websockets', parser: 'JSON', pathname: '/primus' })
  return Socket
}

type Message = Record<string, unknown>

interface Waiter {
  predicate: (message: Message) => boolean
  resolve: (message: Message) => void
}

export class TestClient {
  readonly socket: PrimusSocket
  /** Every message received, in order. */
  readonly messages: Message[] = []
  readonly #waiters = new Set<Waiter>()
  readonly #taken = new WeakSet<Message>()
  #nextId = 0

  constructor (url: string, options: Record<string, unknown> = {}) {
    this.socket = new (primusClient())(url, { strategy: false, ...options })
    this.socket.on('data', (received: Message) => {
      // Primus evaluates its client in a vm context: bring the message into this realm for deepEqual.
      const message = structuredClone(received)
      this.messages.push(message)
      for (const waiter of this.#waiters) {
        if (waiter.predicate(message)) {
          this.#waiters.delete(waiter)
          this.#taken.add(message)
          waiter.resolve(message)
          break
        }
      }
    })
  }

  /** Connects and waits for the welcome message (or just the open socket when there is none). */
  static async connect (t: TestContext, url: string, options: Record<string, unknown> & { welcome?: boolean } = {}): Promise<TestClient> {
    const { welcome = true, ...socketOptions } = options
    const client = new TestClient(url, socketOptions)
    t.after(() => client.end())
    if (welcome) await client.next((message) => message.context === 'api' && 'welcome' in message)
    else await client.opened()
    return client
  }

  opened (): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve())
      this.socket.once('error', (error: Error) => reject(error))
    })
  }

  /**
   * Resolves with the first message that `predicate` accepts and no earlier `next` took: one already
   * received, or the next to come.
   */
  next (predicate: (message: Message) => boolean, timeout = 5000): Promise<Message> {
    const received = this.messages.find((message) => !this.#taken.has(message) && predicate(message))
    if (received !== undefined) {
      this.#taken.add(received)
      return Promise.resolve(received)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new Error(`no matching message within ${timeout} ms; got ${JSON.stringify(this.messages.slice(-5))}`))
      }, timeout)
      const waiter: Waiter = {
        predicate,
        resolve: (message) => {
          clearTimeout(timer)
          resolve(message)
        }
      }
      this.#waiters.add(waiter)
    })
  }

  /** Sends `message` with a fresh `messageId` and resolves with its reply. */
  request (message: Message): Promise<Message> {
    const messageId = `m${++this.#nextId}`
    const reply = this.next((received) => received.context === 'response' && received.messageId === messageId)
    this.socket.write({ ...message, messageId })
    return reply
  }

  action (action: string, params: Message = {}): Promise<Message> {
    return this.request({ event: 'action', params: { action, ...params } })
  }

  /** Resolves once the socket has closed; `reconnects` tells whether the client would retry. */
  closed (): Promise<void> {
    return new Promise((resolve) => this.socket.once('end', () => resolve()))
  }

  end (): void {
    this.socket.end()
  }
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Whether `work` rejects within `ms` (a Redis command sent as its connection dropped waits for a reconnect instead). */
export async function rejectsWithin (work: Promise<unknown>, ms: number): Promise<boolean> {
  return await Promise.race([work.then(() => false, () => true), sleep(ms).then(() => false)])
}

/** Polls `condition` until it holds: a bounded wait for something the server does asynchronously. */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(10)
  }
}
