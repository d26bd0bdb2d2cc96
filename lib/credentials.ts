/**
 * Credentials that expire (issue 21). `authorize` (and `refresh`) may give an auth with `expiresAt`
 * (ms since the epoch): when a third of its lifetime is left, at most 60 s before it passes, the
 * client is asked for fresh credentials (a `refresh` message); the `refresh` verb hands them to the
 * app's `refresh` option, whose answer is the new auth. Credentials not renewed by `expiresAt` plus
 * the grace period end the connection, with the reason, as a refused refresh does, and as a new
 * `authorize` that refuses them does (`reauthorize`).
 *
 * One timer per connection with an expiry, unref'd, cleared when the connection closes or its
 * credentials change: it fires at most twice per lifetime of its credentials (to ask, to expire), so
 * many connections cost no timer work in between.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, type RefreshedCredentials, type RefreshMessage } from '../types/protocol.js'
import type { Connection } from './connection.js'
import { authorizeRefusal, type Authorize } from './gate.js'
import { encodeJson } from './json.js'
import { SerialQueues } from './rooms/serial-queues.js'

/**
 * The app's `refresh` option: the fresh credentials a client sent (`params`) become the connection's
 * new auth, which may carry a new `expiresAt`; throw to refuse (as `authorize` does): the connection
 * is closed with the reason.
 */
export type Refresh = (connection: Connection, params: Record<string, unknown>) => unknown

export interface CredentialsOptions {
  authorize: Authorize | null
  refresh: Refresh | null
  /** How long after `expiresAt` a connection that did not refresh stays open, in ms. */
  grace: number
  log: FastifyBaseLogger
}

/** The most before its expiry that a connection is asked for fresh credentials. */
export const MAX_REFRESH_LEAD = 60_000
/** Node's timers hold at most 2^31 - 1 ms; a later deadline is reached in steps. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

/** When credentials given at `issuedAt` that expire at `expiresAt` are to be refreshed: a third of their lifetime before, at most 60 s. */
export function refreshTime (issuedAt: number, expiresAt: number): number {
  return expiresAt - Math.min(Math.max(0, expiresAt - issuedAt) / 3, MAX_REFRESH_LEAD)
}

export class Credentials {
  readonly #options: CredentialsOptions
  /** The timer of each connection whose credentials expire. */
  readonly #timers = new Map<Connection, NodeJS.Timeout>()
  /** Each connection's renewals, one after another: the credentials sent last are the ones kept. */
  readonly #renewals = new SerialQueues()

  constructor (options: CredentialsOptions) {
    this.#options = options
  }

  /** Whether the app takes fresh credentials (the `refresh` option). */
  get refreshes (): boolean {
    return this.#options.refresh !== null
  }

  /** Follows the expiry of `connection`'s credentials (after the handshake, and whenever they change). */
  watch (connection: Connection): void {
    this.forget(connection)
    const { expiresAt } = connection
    if (expiresAt === null) return
    this.#at(connection, refreshTime(Date.now(), expiresAt), () => {
      const ask: RefreshMessage = { context: 'refresh', expiresAt }
      connection.write(encodeJson(ask) as string, ask)
      this.#at(connection, expiresAt + this.#options.grace, () => {
        this.#timers.delete(connection)
        connection.close(ERRORS.credentialsExpired, false)
      })
    })
  }

  /** The connection closed: its timer goes. */
  forget (connection: Connection): void {
    clearTimeout(this.#timers.get(connection))
    this.#timers.delete(connection)
  }

  /** How many connections have a timer (for tests). */
  get watched (): number {
    return this.#timers.size
  }

  close (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  /**
   * The `refresh` verb (when `refreshes`): the app's `refresh` turns `params` into the connection's new
   * auth. Answers when the new credentials expire, or the reason they were refused (the caller closes
   * the connection).
   */
  async refresh (connection: Connection, params: Record<string, unknown>): Promise<RefreshedCredentials | string> {
    const { refresh } = this.#options
    if (refresh === null) throw new Error('fastify-actionhero-ws: no refresh option')
    return this.#renew(connection, 'refresh', () => refresh(connection, params))
  }

  /**
   * Runs `authorize` again on the connection's handshake: its answer is the new auth, a refusal
   * closes the connection with the reason. Resolves whether the connection stays.
   */
  async reauthorize (connection: Connection): Promise<boolean> {
    const { authorize } = this.#options
    if (authorize === null || !connection.open) return connection.open
    const renewed = await this.#renew(connection, 'reauthorize', () => authorize(connection.handshake))
    if (typeof renewed !== 'string') return true
    connection.close(renewed, false)
    return false
  }

  #renew (connection: Connection, way: 'refresh' | 'reauthorize', renew: () => unknown): Promise<RefreshedCredentials | string> {
    return this.#renewals.run(connection.id, () => this.#renewNow(connection, way, renew))
  }

  async #renewNow (connection: Connection, way: 'refresh' | 'reauthorize', renew: () => unknown): Promise<RefreshedCredentials | string> {
    let auth: unknown
    try {
      auth = await renew()
    } catch (error) {
      const refusal = authorizeRefusal(error)
      const details = { connection: connection.id, reason: refusal.error, err: error }
      if (refusal.statusCode >= 500) this.#options.log.error(details, `fastify-actionhero-ws: ${way} failed`)
      else this.#options.log.info(details, `fastify-actionhero-ws: ${way} refused`)
      return refusal.error
    }
    connection.renew(auth)
    // A connection that closed meanwhile keeps no timer.
    if (connection.open) this.watch(connection)
    return { expiresAt: connection.expiresAt }
  }

  /** Runs `then` at `time` (ms since the epoch), in steps when it is further than a timer holds. */
  #at (connection: Connection, time: number, then: () => void): void {
    const delay = Math.max(0, time - Date.now())
    const timer = delay > MAX_TIMER_DELAY
      ? setTimeout(() => this.#at(connection, time, then), MAX_TIMER_DELAY)
      : setTimeout(then, delay)
    timer.unref()
    this.#timers.set(connection, timer)
  }
}
