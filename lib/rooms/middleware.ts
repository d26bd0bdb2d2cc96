/**
 * Chat middleware, ActionHero's: `join`/`leave` may block a membership change by throwing; `say`
 * runs once per receiver and may rewrite the payload or skip that receiver (null); `onSayReceive`
 * runs once per message and may rewrite it, drop it (null) or refuse it (throw).
 */
import type { ChatMessage } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { InvalidMiddlewareError } from '../errors.js'
import { isPlainObject } from '../options.js'

/** A member of a room whose server died; in a cluster, `leave` runs for it on a surviving node. */
export interface DepartedMember {
  readonly id: string
  readonly departed: true
}

/**
 * The sender of a server broadcast (`rooms.broadcast`), as `onSayReceive` sees it: `id` is the
 * broadcast's `from`, 0 unless server code gave one (ActionHero v11 ran it with `{ id: 0 }`).
 */
export interface BroadcastSender {
  readonly id: string | 0
  readonly broadcast: true
}

/** A new payload, `null` to skip (or drop) the message, nothing to keep it as it is. */
export type PayloadResult = ChatMessage | null | undefined | void

export interface ChatMiddleware {
  name: string
  /** Lower runs first; default 100. */
  priority?: number
  join? (connection: Connection, room: string): void | Promise<void>
  leave? (connection: Connection | DepartedMember, room: string): void | Promise<void>
  /** Also runs for server broadcasts; then `connection` is a `BroadcastSender`. */
  onSayReceive? (connection: Connection | BroadcastSender, room: string, payload: ChatMessage): PayloadResult | Promise<PayloadResult>
  say? (connection: Connection, room: string, payload: ChatMessage): PayloadResult | Promise<PayloadResult>
}

type PayloadHook<Sender> = (sender: Sender, room: string, payload: ChatMessage) => PayloadResult | Promise<PayloadResult>

const DEFAULT_PRIORITY = 100
const HOOKS = ['join', 'leave', 'onSayReceive', 'say'] as const

export class ChatMiddlewareChain {
  #middleware: ChatMiddleware[] = []
  // Read for every message: known once per `use`, not looked up each time.
  #hasSay = false
  #hasOnSayReceive = false

  use (middleware: ChatMiddleware): void {
    const name = isPlainObject(middleware) && typeof middleware.name === 'string' ? middleware.name : ''
    if (name === '') throw new InvalidMiddlewareError(name, 'must have a non-empty string "name"')
    if (this.#middleware.some((existing) => existing.name === name)) throw new InvalidMiddlewareError(name, 'is already in use')
    if (middleware.priority !== undefined && !Number.isFinite(middleware.priority)) {
      throw new InvalidMiddlewareError(name, '"priority" must be a number')
    }
    for (const hook of HOOKS) {
      if (middleware[hook] !== undefined && typeof middleware[hook] !== 'function') {
        throw new InvalidMiddlewareError(name, `"${hook}" must be a function`)
      }
    }
    // A stable sort keeps the order of `use` among equal priorities.
    this.#middleware = [...this.#middleware, middleware]
      .sort((a, b) => (a.priority ?? DEFAULT_PRIORITY) - (b.priority ?? DEFAULT_PRIORITY))
    this.#hasSay ||= middleware.say !== undefined
    this.#hasOnSayReceive ||= middleware.onSayReceive !== undefined
  }

  get hasSay (): boolean {
    return this.#hasSay
  }

  get hasOnSayReceive (): boolean {
    return this.#hasOnSayReceive
  }

  async join (connection: Connection, room: string): Promise<void> {
    for (const middleware of this.#middleware) await middleware.join?.(connection, room)
  }

  async leave (connection: Connection | DepartedMember, room: string): Promise<void> {
    for (const middleware of this.#middleware) await middleware.leave?.(connection, room)
  }

  onSayReceive (connection: Connection | BroadcastSender, room: string, payload: ChatMessage): Promise<ChatMessage | null> {
    return this.#rewrite((middleware) => middleware.onSayReceive, connection, room, payload)
  }

  say (connection: Connection, room: string, payload: ChatMessage): Promise<ChatMessage | null> {
    return this.#rewrite((middleware) => middleware.say, connection, room, payload)
  }

  /** Runs one payload hook (`say` or `onSayReceive`, as `hook` picks it) of every middleware, in order. */
  async #rewrite<Sender extends Connection | BroadcastSender> (
    hook: (middleware: ChatMiddleware) => PayloadHook<Sender> | undefined, sender: Sender, room: string, payload: ChatMessage
  ): Promise<ChatMessage | null> {
    let current = payload
    for (const middleware of this.#middleware) {
      const result = await hook(middleware)?.call(middleware, sender, room, current)
      if (result === null) return null
      if (result !== undefined) current = result
    }
    return current
  }
}
