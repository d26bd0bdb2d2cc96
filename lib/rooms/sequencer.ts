/**
 * Delivery in offset order for the streams a node follows in Redis (a room's messages, a visitor's
 * pushes): each message once, in order, whichever way it came, and a gap filled from the history.
 *
 * A message reaches a node by two ways: its own publishes come back in the answer of the script that
 * stamped them (one round trip), and every message comes on the stream's channel. Pub/sub on one
 * connection is ordered and the script publishes in offset order, so the channel brings a stream's
 * offsets in order; only a lost subscriber connection (a cut, a Redis restart, a failover) makes it skip.
 * Per stream the sequencer keeps the last offset delivered here and:
 * - drops what is at or below it (a publisher's own message coming back on the channel);
 * - delivers the next one at once;
 * - holds one that skips ahead. If it came on the channel, what it skipped was lost there: the
 *   history is read at once. If it is this node's own (the script's answer), the channel brings
 *   the ones before it shortly; a timer reads the history only when the channel stays silent.
 * When the history cannot cover a gap (trimmed, expired, or under another epoch), `lost` tells the
 * stream's members here and delivery goes on from the history's position.
 */
import type { HistoryPosition } from '../../types/protocol.js'

/** What the history holds after a position: the messages in order, or null when it cannot cover them. */
export interface HistoryRead<Item> {
  items: Item[] | null
  /** The stream's position now. */
  position: HistoryPosition
}

export interface SequencerOptions<Item> {
  /** Where `item` sits in its stream. */
  positionOf: (item: Item) => HistoryPosition
  /** Hands `item` to the stream's members here, in offset order, once. */
  deliver: (key: string, item: Item) => void
  /** Reads the history of stream `key` after `after`. */
  read: (key: string, after: HistoryPosition) => Promise<HistoryRead<Item>>
  /** Messages of stream `key` were lost for this node; delivery goes on after `position`. */
  lost: (key: string, position: HistoryPosition) => void
  /** How long a message of this node's own waits for the channel to bring the ones before it, in ms. */
  timeout: number
  /** A history read failed (it is tried again after `timeout`). */
  failed: (error: unknown, key: string) => void
}

/** At most this many messages held per stream; past it the history is read at once. */
const MAX_HELD = 1000

interface Stream<Item> {
  /** The last message delivered here; epoch null until the first position is known. */
  epoch: string | null
  offset: number
  /** Messages ahead of `offset` in the same epoch, waiting for the ones before them. */
  readonly held: Map<number, Item>
  timer: NodeJS.Timeout | null
  reading: boolean
  /** A read is needed again once the current one is done. */
  again: boolean
}

export class Sequencer<Item> {
  readonly #options: SequencerOptions<Item>
  readonly #streams = new Map<string, Stream<Item>>()

  constructor (options: SequencerOptions<Item>) {
    this.#options = options
  }

  /** Starts following stream `key` (its channel is subscribed); `position`, when known, is where it is now. */
  follow (key: string, position?: HistoryPosition): void {
    if (!this.#streams.has(key)) this.#streams.set(key, { epoch: null, offset: 0, held: new Map(), timer: null, reading: false, again: false })
    if (position !== undefined) this.place(key, position)
  }

  /** Stops following stream `key`: nothing more is delivered for it. */
  unfollow (key: string): void {
    const stream = this.#streams.get(key)
    if (stream === undefined) return
    if (stream.timer !== null) clearTimeout(stream.timer)
    this.#streams.delete(key)
  }

  /** Stops following every stream (the store closes). */
  clear (): void {
    for (const key of [...this.#streams.keys()]) this.unfollow(key)
  }

  /** The keys of every stream followed. */
  keys (): IterableIterator<string> {
    return this.#streams.keys()
  }

  /** The position of the last message delivered here in every stream whose position is known. */
  * positions (): IterableIterator<[key: string, position: HistoryPosition]> {
    for (const [key, { epoch, offset }] of this.#streams) if (epoch !== null) yield [key, { epoch, offset }]
  }

  /** The position of the last message delivered here in stream `key`, or null when none is known yet. */
  position (key: string): HistoryPosition | null {
    const stream = this.#streams.get(key)
    return stream?.epoch == null ? null : { epoch: stream.epoch, offset: stream.offset }
  }

  /**
   * Where stream `key` is, when nothing has been delivered here yet (read after its channel was
   * subscribed): what comes on the channel at or below it was published before this node listened.
   */
  place (key: string, position: HistoryPosition): void {
    const stream = this.#streams.get(key)
    if (stream === undefined || stream.epoch !== null) return
    stream.epoch = position.epoch
    stream.offset = position.offset
  }

  /** A message of stream `key`: from the channel (`fromChannel`), or this node's own, from the script's answer. */
  receive (key: string, item: Item, fromChannel: boolean): void {
    const stream = this.#streams.get(key)
    if (stream === undefined) return
    const { epoch, offset } = this.#options.positionOf(item)
    if (stream.epoch === null) {
      // Nothing known yet: this message is where delivery starts.
      stream.epoch = epoch
      stream.offset = offset - 1
    } else if (epoch !== stream.epoch) {
      // The history changed its name (lost, expired after silence, the room made again): a new sequence.
      const missing = stream.held.size > 0 || stream.reading
      stream.held.clear()
      stream.epoch = epoch
      stream.offset = 0
      if (missing) {
        stream.offset = offset - 1
        this.#options.lost(key, { epoch, offset: offset - 1 })
      }
    }
    if (offset <= stream.offset) return
    if (offset === stream.offset + 1) {
      this.#options.deliver(key, item)
      stream.offset = offset
      this.#drain(key, stream)
      return
    }
    stream.held.set(offset, item)
    if (fromChannel || stream.held.size > MAX_HELD) this.#read(key, stream)
    else this.#wait(key, stream)
  }

  /**
   * The channel of stream `key` may have missed messages (its subscriber connection came back): reads
   * the history after the last message delivered here, while what comes meanwhile waits behind it.
   */
  catchUp (key: string): void {
    const stream = this.#streams.get(key)
    if (stream !== undefined) this.#read(key, stream)
  }

  /** Delivers what was held and is now next; waits for the rest. */
  #drain (key: string, stream: Stream<Item>): void {
    for (let next = stream.held.get(stream.offset + 1); next !== undefined; next = stream.held.get(stream.offset + 1)) {
      stream.held.delete(stream.offset + 1)
      stream.offset++
      this.#options.deliver(key, next)
    }
    if (stream.held.size === 0 && stream.timer !== null) {
      clearTimeout(stream.timer)
      stream.timer = null
    }
  }

  /** Gives the channel `timeout` to bring what is missing, then reads the history. */
  #wait (key: string, stream: Stream<Item>): void {
    if (stream.timer !== null || stream.reading) return
    stream.timer = setTimeout(() => {
      stream.timer = null
      this.#read(key, stream)
    }, this.#options.timeout)
    stream.timer.unref()
  }

  #read (key: string, stream: Stream<Item>): void {
    if (stream.reading) {
      stream.again = true
      return
    }
    if (stream.timer !== null) clearTimeout(stream.timer)
    stream.timer = null
    if (stream.epoch === null) return
    stream.reading = true
    stream.again = false
    const after = { epoch: stream.epoch, offset: stream.offset }
    let failed = false
    this.#options.read(key, after).then(({ items, position }) => {
      if (this.#streams.get(key) !== stream) return
      if (items !== null) {
        for (const item of items) this.#fill(key, stream, item)
      } else if (position.epoch === after.epoch && position.offset <= after.offset && stream.held.size === 0) {
        // The history is behind what this node delivered (Redis came back from an older snapshot):
        // nothing is missing that it could tell; the write-back raises it to this node's floor.
      } else if (stream.epoch === after.epoch && stream.offset === after.offset) {
        // The history cannot cover what this node missed: its members here start again after the gap,
        // with what is held beyond it (of another epoch, nothing held is of the history's).
        if (position.epoch !== after.epoch) stream.held.clear()
        const resume = Math.min(position.offset, Math.min(...stream.held.keys()) - 1)
        stream.epoch = position.epoch
        stream.offset = resume
        this.#options.lost(key, { epoch: position.epoch, offset: resume })
      }
      this.#drain(key, stream)
    }, (error: unknown) => {
      failed = true
      if (this.#streams.get(key) === stream) this.#options.failed(error, key)
    }).finally(() => {
      if (this.#streams.get(key) !== stream) return
      stream.reading = false
      const again = stream.again
      stream.again = false
      // A failed read is tried again after `timeout`; a loss proven meanwhile (or a catch-up asked) is read at once.
      if (failed) this.#wait(key, stream)
      else if (again) this.#read(key, stream)
      else if (stream.held.size > 0) this.#wait(key, stream)
    })
  }

  /** A message read from the history: delivered when it is the next one (same epoch). */
  #fill (key: string, stream: Stream<Item>, item: Item): void {
    const { epoch, offset } = this.#options.positionOf(item)
    if (epoch !== stream.epoch || offset !== stream.offset + 1) return
    stream.held.delete(offset)
    this.#options.deliver(key, item)
    stream.offset = offset
  }
}
