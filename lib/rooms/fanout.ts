/**
 * Fan-out: a room message delivered to this node's members. Encoded once, to a Buffer every socket
 * sends as it is. With `say` middleware, each receiver's runs on a copy of its own (nested objects
 * too), so what it changes reaches that receiver and no one else; a message that holds objects is
 * then encoded per receiver, a flat one (a string message) only for a receiver it was changed for.
 * The messages of a room then go out one after another, so that async middleware keeps their order.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatMessage, HistoryPosition, PresenceMessage, RoomRecoveredMessage } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { encodeJson, escapeLineTerminators } from '../json.js'
import { secondsSince, type Metrics } from '../observability/metrics.js'
import type { CatchUp } from './catch-up.js'
import type { Membership } from './membership.js'
import type { ChatMiddlewareChain } from './middleware.js'
import { SerialQueues } from './serial-queues.js'

/** A room message as one member gets it: the frame to write and the message it encodes. */
export interface MemberFrame {
  data: string | Buffer
  message: ChatMessage
}

export interface FanOutOptions {
  membership: Membership
  middleware: ChatMiddlewareChain
  catchUp: CatchUp
  /** Whether the sender of a message gets it too. */
  echoSay: boolean
  log: FastifyBaseLogger
  metrics: Metrics
}

export class FanOut {
  readonly #membership: Membership
  readonly #middleware: ChatMiddlewareChain
  readonly #catchUp: CatchUp
  readonly #echoSay: boolean
  readonly #log: FastifyBaseLogger
  readonly #metrics: Metrics
  /** Per room, what this node delivers while `say` middleware runs. */
  readonly #delivering = new SerialQueues()

  constructor ({ membership, middleware, catchUp, echoSay, log, metrics }: FanOutOptions) {
    this.#metrics = metrics
    this.#membership = membership
    this.#middleware = middleware
    this.#catchUp = catchUp
    this.#echoSay = echoSay
    this.#log = log
  }

  /** Delivers a room message (`encoded`: its JSON, when the store has it) to the room's members here. */
  deliver (message: ChatMessage, encoded?: string): void {
    const members = this.#membership.of(message.room)
    if (members === undefined) return
    const started = this.#metrics.enabled ? performance.now() : 0
    const json = encoded ?? JSON.stringify(message)
    const frame = Buffer.from(escapeLineTerminators(json))
    const { from } = message
    if (!this.#middleware.hasSay && !this.#delivering.busy(message.room)) {
      for (const { connection, hearing } of members.values()) {
        if (hearing && (this.#echoSay || connection.id !== from)) this.#catchUp.write(connection, frame, message)
      }
      if (this.#metrics.enabled) this.#metrics.sayFannedOut(secondsSince(started))
      return
    }
    const receivers: Connection[] = []
    for (const { connection, hearing } of members.values()) if (hearing && (this.#echoSay || connection.id !== from)) receivers.push(connection)
    this.#delivering.run(message.room, () => Promise.all(receivers.map(async (receiver) => {
      const delivery = await frameFor(this.#middleware, this.#log, receiver, { message, json, frame })
      if (delivery !== null) this.#catchUp.write(receiver, delivery.data, delivery.message)
    })).then(() => { if (this.#metrics.enabled) this.#metrics.sayFannedOut(secondsSince(started)) })).catch((error: unknown) => this.#log.error({ err: error }, 'fastify-actionhero-ws: delivery failed'))
  }

  /**
   * Messages of `room` were lost for this node's members (see RoomStoreEvents.lost): each is told, in
   * order with the room's messages, that some may be missing and where the room goes on.
   */
  lost (room: string, { epoch, offset }: HistoryPosition): void {
    this.#tell(room, { context: 'room', event: 'recovered', room, recovered: false, epoch, offset })
  }

  /**
   * A change of who is in a presence room (presence.ts): each member here is told, in order with the
   * room's messages, once; not through the chat middleware (it is not chat), nor kept in the history
   * (a member rejoining gets the list in its `roomAdd` reply instead).
   */
  presence (message: PresenceMessage, encoded?: string): void {
    this.#tell(message.room, message, encoded)
  }

  /** Writes a notice of the room's (`encoded`: its JSON, when the store has it) to its members here, behind the room's messages still on their way. */
  #tell (room: string, notice: RoomRecoveredMessage | PresenceMessage, encoded?: string): void {
    const members = this.#membership.of(room)
    if (members === undefined) return
    const frame = Buffer.from(encoded === undefined ? encodeJson(notice) as string : escapeLineTerminators(encoded))
    const tell = (): void => {
      for (const { connection, hearing } of this.#membership.of(room)?.values() ?? []) if (hearing) connection.write(frame, notice)
    }
    if (!this.#delivering.busy(room)) return tell()
    this.#delivering.run(room, async () => tell()).catch((error: unknown) => this.#log.error({ err: error }, 'fastify-actionhero-ws: delivery failed'))
  }
}

/** A room message on its way to receivers: `json` is its encoding, `frame` what every receiver may share. */
export interface Outgoing {
  message: ChatMessage
  json: string
  frame: string | Buffer
}

/** A room message on its way to receivers, from the message alone (a replayed one). */
export function outgoing (message: ChatMessage): Outgoing {
  const json = JSON.stringify(message)
  return { message, json, frame: escapeLineTerminators(json) }
}

/**
 * What `receiver` gets of a room message, through the `say` middleware when there is one: null when
 * it is not for the receiver, or when the middleware failed or handed back what cannot be encoded
 * (logged). Live and replayed messages alike.
 */
export async function frameFor (middleware: ChatMiddlewareChain, log: FastifyBaseLogger, receiver: Connection, { message, json, frame }: Outgoing): Promise<MemberFrame | null> {
  if (!middleware.hasSay) return { data: frame, message }
  try {
    // The receiver's own copy: decoded from the JSON when the message holds objects, so theirs too.
    const nested = holdsObjects(message)
    const payload = await middleware.say(receiver, message.room, nested ? JSON.parse(json) as ChatMessage : { ...message })
    if (payload === null) return null
    // A nested object may have been changed in place: only a flat message can be compared.
    if (!nested && isUnchanged(payload, message)) return { data: frame, message }
    return { data: encodeJson(payload) as string, message: payload }
  } catch (error) {
    log.warn({ err: error, connection: receiver.id, room: message.room }, 'fastify-actionhero-ws: say middleware failed; that receiver is skipped')
    return null
  }
}

/** True when a field of `message` is an object (its text is, in a chat of strings, not). */
function holdsObjects (message: ChatMessage): boolean {
  for (const key in message) {
    const value = (message as unknown as Record<string, unknown>)[key]
    if (typeof value === 'object' && value !== null) return true
  }
  return false
}

/** True when `say` middleware handed back a flat payload with the same values, so the shared encoding fits. */
function isUnchanged (payload: ChatMessage, original: ChatMessage): boolean {
  return Object.keys(payload).length === Object.keys(original).length && payload.context === original.context && payload.room === original.room &&
    payload.from === original.from && payload.message === original.message && payload.sentAt === original.sentAt &&
    payload.offset === original.offset && payload.epoch === original.epoch
}
