/**
 * Pushes of one process: every connection of a fingerprint is here. With history on, each
 * fingerprint's stream lives in memory, made when something is pushed to it and dropped by the sweep
 * once nothing of it is kept: a visitor who left costs nothing after `ttl`.
 */
import type { PushMessage } from '../../types/protocol.js'
import { MemoryHistory, type HistoryOptions } from '../rooms/history.js'
import { stampPush, type PushStore, type PushStoreEvents } from './pushes.js'

export class MemoryPushStore implements PushStore {
  readonly history: MemoryHistory<PushMessage> | null
  #events: PushStoreEvents | null = null

  constructor ({ history = false, largest }: { history?: HistoryOptions | false, largest?: number } = {}) {
    this.history = history === false ? null : new MemoryHistory<PushMessage>(history, { largest, stamp: stampPush, lazy: true })
  }

  async start (events: PushStoreEvents): Promise<void> {
    this.#events = events
    this.history?.start()
  }

  async close (): Promise<void> {
    this.#events = null
    this.history?.stop()
  }

  follow (): void {}

  unfollow (): void {}

  async listening (): Promise<void> {}

  async push (fingerprint: string, message: PushMessage, json: string): Promise<number> {
    if (this.history === null) {
      this.#events?.deliver(fingerprint, message, json)
    } else {
      const appended = this.history.append(fingerprint, message)
      this.#events?.deliver(fingerprint, appended.item, appended.json)
    }
    return 0
  }
}
