/**
 * A visitor's pushes (`sendToFingerprint`): to every connection with its fingerprint, on every node.
 * With history on they are a stream per fingerprint, as a room's messages are: each push carries
 * `pushOffset` and `pushEpoch`, the last ones are kept under the `history` option's bounds, and a
 * page that reconnects within `ttl` asks for what it missed (`pushesSince`), gets it once, in order,
 * then the live ones (held meanwhile). A connection without a fingerprint has no stream. Where the
 * stream lives (this process, or Redis) is the `PushStore`'s.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { HistoryPosition, PushesRecoveredMessage, PushesSinceFields, PushMessage } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import type { Metrics } from '../observability/metrics.js'
import { encodeJson, escapeLineTerminators } from '../json.js'
import { PUSH_FIELDS, type StreamHistory } from '../rooms/history.js'
import { Holds, lowWater } from '../rooms/holds.js'
import { SerialQueues } from '../rooms/serial-queues.js'

/** What a push store tells its node. */
export interface PushStoreEvents {
  /** A push for `fingerprint`, to this node's connections of it, in stream order (`json`: its encoding). */
  deliver (fingerprint: string, message: PushMessage, json: string): void
  /** Pushes of `fingerprint` were lost for this node; the stream goes on after `position`. */
  lost (fingerprint: string, position: HistoryPosition): void
}

export interface PushStore {
  /** The push streams' history, when pushes are kept (history on). */
  readonly history: StreamHistory<PushMessage> | null
  start (events: PushStoreEvents): Promise<void>
  close (): Promise<void>
  /** This node holds a connection of `fingerprint` now (its first one): it hears the fingerprint's pushes. */
  follow (fingerprint: string): void
  /** This node no longer holds a connection of `fingerprint`. */
  unfollow (fingerprint: string): void
  /** Resolves once the pushes for `fingerprint` published from now on reach this node. */
  listening (fingerprint: string): Promise<void>
  /**
   * Sends `message` (`json`: its encoding) to every connection of `fingerprint`, stamped and kept when
   * history is on: this node's through `deliver`, and nothing before what can fail has succeeded.
   * Rejects when nothing was sent; resolves how many connections of the fingerprint other nodes hold,
   * as far as the store knows (`here`: how many this node holds).
   */
  push (fingerprint: string, message: PushMessage, json: string, here: number): Promise<number>
}

/** Where a push sits in its stream, when it carries a position. */
export function pushPosition (message: PushMessage): HistoryPosition | null {
  const { pushEpoch, pushOffset } = message
  return typeof pushEpoch === 'string' && typeof pushOffset === 'number' ? { epoch: pushEpoch, offset: pushOffset } : null
}

/** A push stamped with its place in the stream (spread: a push is an app's object, of any shape). */
export function stampPush (message: PushMessage, { offset, epoch }: HistoryPosition): PushMessage {
  return { ...message, [PUSH_FIELDS.offset]: offset, [PUSH_FIELDS.epoch]: epoch }
}

const NO_CONNECTIONS: ReadonlySet<Connection> = new Set()

export class Pushes {
  readonly #store: PushStore
  readonly #log: FastifyBaseLogger
  /** This node's connections by fingerprint. */
  readonly #byFingerprint = new Map<string, Set<Connection>>()
  /** Connections catching up on their stream: its live pushes wait for the replay (shared with the rooms' catch-up). */
  readonly #holds: Holds<PushMessage>
  /** A replayed push is written once at most this much waits to be sent to the client. */
  readonly #lowWater: number
  /** Each connection's catch-ups, one after another. */
  readonly #replays = new SerialQueues()

  /** `maxBufferedBytes`: what may wait to be sent to one client (the option). */
  constructor (store: PushStore, { maxBufferedBytes, log, metrics }: { maxBufferedBytes: number, log: FastifyBaseLogger, metrics: Metrics }) {
    this.#store = store
    this.#log = log
    this.#holds = new Holds<PushMessage>({ positionOf: pushPosition, maxBufferedBytes, log, metrics })
    this.#lowWater = lowWater(maxBufferedBytes)
  }

  async start (): Promise<void> {
    await this.#store.start({
      deliver: (fingerprint, message, json) => {
        const visitor = this.#byFingerprint.get(fingerprint)
        if (visitor === undefined) return
        const frame = escapeLineTerminators(json)
        for (const connection of visitor) this.#holds.write(connection, fingerprint, frame, message)
      },
      lost: (fingerprint, position) => this.#lost(fingerprint, position)
    })
  }

  async close (): Promise<void> {
    await this.#store.close()
  }

  connected (connection: Connection): void {
    const { fingerprint } = connection
    if (fingerprint === null) return
    let visitor = this.#byFingerprint.get(fingerprint)
    if (visitor === undefined) {
      this.#byFingerprint.set(fingerprint, visitor = new Set())
      this.#store.follow(fingerprint)
    }
    visitor.add(connection)
  }

  disconnected (connection: Connection): void {
    const { fingerprint } = connection
    if (fingerprint === null) return
    const visitor = this.#byFingerprint.get(fingerprint)
    if (visitor === undefined || !visitor.delete(connection) || visitor.size > 0) return
    this.#byFingerprint.delete(fingerprint)
    this.#store.unfollow(fingerprint)
  }

  /** This node's connections of the visitor with `fingerprint`. */
  connectionsOf (fingerprint: string): ReadonlySet<Connection> {
    return this.#byFingerprint.get(fingerprint) ?? NO_CONNECTIONS
  }

  /**
   * Sends `message` (`json`: its encoding) to every connection of `fingerprint`, on every node;
   * resolves how many connections of it there are (this node's, which it was written to, and the
   * other nodes'). It rejects only when nothing was sent: a caller may retry without sending twice.
   */
  async push (fingerprint: string, message: PushMessage, json: string): Promise<number> {
    const here = this.#byFingerprint.get(fingerprint)?.size ?? 0
    return here + await this.#store.push(fingerprint, message, json, here)
  }

  /**
   * `pushesSince`: the stream's position for `connection`, and with `since` (the last push it has) the
   * pushes after it first, when the history still holds them all (`recovered`). Live pushes wait
   * meanwhile, and follow without a gap or a repeat.
   */
  async catchUp (connection: Connection, since?: HistoryPosition): Promise<PushesSinceFields> {
    const { fingerprint } = connection
    const history = this.#store.history
    if (fingerprint === null || history === null) return {}
    return this.#replays.run(connection.id, () => this.#catchUp(connection, fingerprint, history, since))
  }

  async #catchUp (connection: Connection, fingerprint: string, history: StreamHistory<PushMessage>, since?: HistoryPosition): Promise<PushesSinceFields> {
    await this.#store.listening(fingerprint)
    // The connection hears live pushes from here whatever happens to the history.
    return await this.#holds.replay(this.#holds.hold(connection, fingerprint), {
      history,
      since,
      replayed: (message) => this.#send(connection, encodeJson(message) as string, message),
      held: ({ data, message }) => this.#send(connection, data, message),
      what: 'push history'
    })
  }

  /** Writes a replayed push once the client has read what came before. */
  async #send (connection: Connection, data: string | Buffer, message: PushMessage): Promise<void> {
    if (!connection.open) return
    await connection.drained(this.#lowWater)
    connection.write(data, message)
  }

  #lost (fingerprint: string, { epoch, offset }: HistoryPosition): void {
    const notice: PushesRecoveredMessage & PushMessage = { context: 'pushes', event: 'recovered', recovered: false, epoch, offset }
    const json = encodeJson(notice) as string
    for (const connection of this.#byFingerprint.get(fingerprint) ?? []) this.#holds.write(connection, fingerprint, json, notice)
  }
}
