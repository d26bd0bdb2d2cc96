/**
 * The two room stores a rooms test runs on: memory (one process), and Redis (the shared Redis, under
 * a prefix of the test's own, whose keys are removed when the test ends).
 */
import type { TestContext } from 'node:test'
import { Redis } from 'ioredis'
import type { ActionheroWsOptions } from '../lib/index.js'
import { keysUnder, needRedis, SHARED_REDIS, uniquePrefix } from './cluster-helpers.js'

export interface RoomStoreCase {
  name: 'memory' | 'redis'
  /** The store's options for the app, or null when the test must skip (said why already). */
  options: (t: TestContext) => Promise<ActionheroWsOptions | null>
}

export const ROOM_STORES: readonly RoomStoreCase[] = [
  { name: 'memory', options: async () => ({}) },
  {
    name: 'redis',
    options: async (t) => {
      if (!await needRedis(t)) return null
      const prefix = uniquePrefix()
      t.after(async () => {
        const keys = await keysUnder(SHARED_REDIS, prefix)
        if (keys.length === 0) return
        const client = new Redis(SHARED_REDIS)
        await client.del(...keys)
        client.disconnect()
      })
      return { redis: { url: SHARED_REDIS, prefix } }
    }
  }
]
