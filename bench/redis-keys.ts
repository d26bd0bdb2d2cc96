/**
 * The bench's keys in a shared Redis: every run puts them under a prefix of its own, and deletes
 * them all at the end.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

/** A prefix no other run (nor anything else on a shared Redis) uses. */
export function runPrefix (): string {
  return `ahws-bench-${randomBytes(4).toString('hex')}:`
}

/** Deletes every key under `prefix`. */
export async function deleteKeys (url: string, prefix: string): Promise<void> {
  const client = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}
