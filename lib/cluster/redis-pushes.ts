/**
 * Pushes across the nodes of a cluster, in Redis. With history on, a fingerprint's pushes are a stream
 * like a room's: one script stamps, keeps and publishes each on the fingerprint's channel, which every
 * node holding a connection of it listens to (only while it holds one); the pushing node delivers its
 * own from the script's answer, and every node sequences the stream (see rooms/sequencer.ts), filling
 * a gap from the history. With history off, a push goes to the nodes that hold the fingerprint's
 * connections, over their channels, as before.
 */
import { ERRORS, type PushMessage } from '../../types/protocol.js'
import { PUSH_FIELDS, type Appended, type HistoryOptions } from '../rooms/history.js'
import { RedisHistory, type StreamOptions } from '../rooms/redis-history.js'
import { Sequencer } from '../rooms/sequencer.js'
import { stampPush, type PushStore, type PushStoreEvents } from '../pushes/pushes.js'
import { BusError, decodeStreamPush } from './bus.js'
import type { RedisLink } from './directory.js'
import type { RedisCluster } from './redis-cluster.js'
import type { RedisNode } from './redis-node.js'

/** A visitor's push stream: `pushOffset` and `pushEpoch` in each push, published as `push` on the fingerprint's channel. */
export function pushStream ({ schema }: RedisLink, largest: number): StreamOptions<PushMessage> {
  return {
    keys: { position: (fp) => schema.pushPosition(fp), messages: (fp) => schema.pushMessages(fp), channel: (fp) => schema.pushChannel(fp) },
    kind: 'push',
    fields: PUSH_FIELDS,
    stamp: stampPush,
    largest,
    lazy: true
  }
}

export class RedisPushStore implements PushStore {
  readonly history: RedisHistory<PushMessage> | null
  readonly #node: RedisNode
  readonly #cluster: RedisCluster
  readonly #sequencer: Sequencer<Appended<PushMessage>>
  /** The subscription to each followed fingerprint's channel. */
  readonly #subscriptions = new Map<string, Promise<void>>()
  #events: PushStoreEvents | null = null

  constructor (node: RedisNode, cluster: RedisCluster, history: HistoryOptions | false, largest: number) {
    this.#node = node
    this.#cluster = cluster
    this.history = history === false ? null : new RedisHistory<PushMessage>(node, history, pushStream(node, largest))
    this.#sequencer = new Sequencer<Appended<PushMessage>>({
      positionOf: ({ position }) => position,
      deliver: (fingerprint, { item, json }) => this.#events?.deliver(fingerprint, item, json),
      read: (fingerprint, after) => (this.history as RedisHistory<PushMessage>).after(fingerprint, after),
      lost: (fingerprint, position) => this.#events?.lost(fingerprint, position),
      timeout: node.requestTimeout,
      failed: (error) => node.warn('history', error, 'could not read the push history to fill a gap; trying again')
    })
    if (this.history === null) return
    node.onResubscribed(() => { for (const fingerprint of this.#sequencer.keys()) this.#sequencer.catchUp(fingerprint) })
    node.onResync(() => (this.history as RedisHistory<PushMessage>).raise(this.#sequencer.positions()))
  }

  async start (events: PushStoreEvents): Promise<void> {
    this.#events = events
  }

  async close (): Promise<void> {
    this.#events = null
    this.#sequencer.clear()
  }

  follow (fingerprint: string): void {
    if (this.history === null) return
    this.#sequencer.follow(fingerprint)
    this.#subscribe(fingerprint)
  }

  unfollow (fingerprint: string): void {
    if (!this.#subscriptions.delete(fingerprint)) return
    this.#sequencer.unfollow(fingerprint)
    this.#node.unsubscribe(this.#node.schema.pushChannel(fingerprint))
  }

  async listening (fingerprint: string): Promise<void> {
    const subscribed = this.#subscriptions.get(fingerprint)
    if (subscribed === undefined || this.history === null) return
    try {
      await this.#node.deadline(subscribed, false)
    } catch (error) {
      // A subscription that failed is made again for the next to ask (one that is late may still land).
      subscribed.then(() => {}, () => { if (this.#subscriptions.get(fingerprint) === subscribed) this.#subscribe(fingerprint) })
      throw error
    }
    // What comes on the channel from here is new; what this node missed before it knew where the stream was, it cannot tell.
    if (this.#sequencer.position(fingerprint) === null) this.#sequencer.place(fingerprint, await this.#node.deadline(this.history.position(fingerprint), false))
  }

  async push (fingerprint: string, message: PushMessage, json: string, here: number): Promise<number> {
    if (this.history === null) {
      // Elsewhere first: nothing is written here before what can fail has succeeded.
      let elsewhere = 0
      try {
        elsewhere = await this.#node.deadline(this.#cluster.sendToFingerprint(fingerprint, json), false)
      } catch (error) {
        if (!isTimeout(error)) throw error
        this.#node.warn('push', error, 'Redis did not confirm a push in time: it may or may not reach the visitor on other nodes')
      }
      this.#events?.deliver(fingerprint, message, json)
      return elsewhere
    }
    const counted = this.#node.command.scard(this.#node.schema.fingerprint(fingerprint)).catch(() => null)
    const publishing = this.history.publish(fingerprint, message, this.#sequencer.position(fingerprint))
    let pushed: Appended<PushMessage>
    try {
      pushed = await this.#node.deadline(publishing, false)
    } catch (error) {
      if (!isTimeout(error)) throw error
      // Redis did not answer in time: the push may be on its way, or have gone. Resolving keeps a caller's
      // retry from sending it twice; if the answer comes late, this node's connections get it then.
      this.#node.warn('push', error, 'Redis did not confirm a push in time: it may or may not reach the visitor')
      publishing.then((late) => this.#sequencer.receive(fingerprint, late, false), () => {})
      return 0
    }
    this.#sequencer.receive(fingerprint, pushed, false)
    const everywhere = await counted
    return everywhere === null ? 0 : Math.max(0, everywhere - here)
  }

  #subscribe (fingerprint: string): void {
    const subscribed = this.#node.subscribe(this.#node.schema.pushChannel(fingerprint), (kind, payload) => this.#receive(fingerprint, kind, payload))
    // Awaited by `listening`; observed here too, for a visitor gone before it settles.
    subscribed.catch(() => {})
    this.#subscriptions.set(fingerprint, subscribed)
  }

  /** A push of a followed fingerprint's stream, from its channel; a malformed one throws a BusError, which the node logs and drops. */
  #receive (fingerprint: string, kind: string, payload: string): void {
    if (kind !== 'push') throw new BusError(`unknown kind ${JSON.stringify(kind)} on a push channel`)
    const { message, position } = decodeStreamPush(payload)
    this.#sequencer.receive(fingerprint, { item: message, json: payload, position }, true)
  }
}

/** Redis did not answer in time: what was asked may have been done (see RedisNode.deadline). */
function isTimeout (error: unknown): boolean {
  return error instanceof Error && error.message === ERRORS.clusterTimeout
}
