/**
 * Where a cluster's connections live, as the connection directory in Redis records it (RedisSchema's
 * `connections` and `fingerprint:<fp>` keys), and how a message reaches them: over the channel of
 * each node that holds some. Shared by the nodes (RedisCluster) and by emitters (lib/emitter.ts),
 * which reach connections the same way without being nodes.
 */
import type { ConnectionTarget } from '../kicks.js'
import type { RedisSchema } from './redis-schema.js'
import type { RedisClient } from './redis-node.js'

/** What reaching a cluster through Redis takes: a node has it, and so has an emitter. */
export interface RedisLink {
  /** The id its bus messages carry as their origin. */
  readonly id: string
  readonly schema: RedisSchema
  readonly command: RedisClient
  /** Whether channels are sharded (Redis Cluster): a script that publishes must use SPUBLISH. */
  readonly sharded: boolean
  runScript (script: string, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown>
  publish (channel: string, kind: string, payload: string): Promise<void>
}

/** The nodes that hold `target`'s connections, but `except`, each with the ids of those it holds. */
export async function locate ({ command, schema }: RedisLink, target: ConnectionTarget, except: string | null = null): Promise<Map<string, string[]>> {
  const ids = typeof target === 'string' ? [target] : await command.smembers(schema.fingerprint(target.fingerprint))
  const byNode = new Map<string, string[]>()
  if (ids.length === 0) return byNode
  const nodes = await command.hmget(schema.connections, ...ids)
  for (const [index, node] of nodes.entries()) {
    if (node === null || node === except) continue
    const list = byNode.get(node)
    if (list === undefined) byNode.set(node, [ids[index] as string])
    else list.push(ids[index] as string)
  }
  return byNode
}

/** Publishes to each node of `located` the payload made for its connections; resolves how many connections that was. */
export async function publishToNodes (link: RedisLink, located: ReadonlyMap<string, string[]>, kind: string, payloadFor: (ids: string[]) => string): Promise<number> {
  let reached = 0
  const sent: Array<Promise<void>> = []
  for (const [node, ids] of located) {
    reached += ids.length
    sent.push(link.publish(link.schema.nodeChannel(node), kind, payloadFor(ids)))
  }
  await Promise.all(sent)
  return reached
}
