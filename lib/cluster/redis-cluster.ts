/**
 * The connection directory of a cluster, in Redis: which node holds each connection (and each
 * fingerprint's connections), so that a push or a membership change reaches it over that node's
 * channel. Nodes only read their own channel.
 *
 * Keys: `<prefix>connections` (hash: id -> node), `<prefix>node:<node>:connections` (hash: id ->
 * fingerprint, for reaping), `<prefix>fingerprint:<fingerprint>` (set of ids).
 */
import { randomUUID } from 'node:crypto'
import { ERRORS } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { errorMessage, RoomError } from '../errors.js'
import type { Cluster, ClusterHandlers, MembershipChange } from './cluster.js'
import type { RedisNode } from './redis-node.js'

interface MembershipRequest {
  requestId: string
  replyTo: string
  connectionId: string
  room: string
  change: MembershipChange
}

interface MembershipReply {
  requestId: string
  error: string | null
}

interface PendingRequest {
  resolve: () => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout
}

export class RedisCluster implements Cluster {
  readonly #node: RedisNode
  #handlers: ClusterHandlers | null = null
  /** This node's connections: id -> fingerprint (or ''). The truth it writes back after an outage. */
  readonly #local = new Map<string, string>()
  readonly #pending = new Map<string, PendingRequest>()

  constructor (node: RedisNode) {
    this.#node = node
    node.onResync(() => this.#resync())
  }

  async start (handlers: ClusterHandlers): Promise<void> {
    this.#handlers = handlers
    await this.#node.subscribe(this.#node.channelOfNode(this.#node.id), (kind, payload) => this.#receive(kind, payload))
  }

  async close (): Promise<void> {
    for (const [requestId, pending] of this.#pending) {
      clearTimeout(pending.timer)
      pending.reject(new Error('fastify-actionhero-ws: the server is shutting down'))
      this.#pending.delete(requestId)
    }
    this.#handlers = null
  }

  connected (connection: Connection): void {
    const fingerprint = connection.fingerprint ?? ''
    this.#local.set(connection.id, fingerprint)
    const batch = this.#node.command.multi()
      .hset(this.#node.key('connections'), connection.id, this.#node.id)
      .hset(this.#connectionsOfNode(), connection.id, fingerprint)
    if (fingerprint !== '') batch.sadd(this.#fingerprintKey(fingerprint), connection.id)
    batch.exec().catch((error: unknown) => this.#writeFailed(error))
  }

  disconnected (connection: Connection): void {
    this.#local.delete(connection.id)
    const batch = this.#node.command.multi()
      .hdel(this.#node.key('connections'), connection.id)
      .hdel(this.#connectionsOfNode(), connection.id)
    if (connection.fingerprint !== null) batch.srem(this.#fingerprintKey(connection.fingerprint), connection.id)
    batch.exec().catch((error: unknown) => this.#writeFailed(error))
  }

  async send (connectionId: string, json: string): Promise<boolean> {
    const node = await this.#node.command.hget(this.#node.key('connections'), connectionId)
    if (node === null || node === this.#node.id) return false
    await this.#push(node, [connectionId], json)
    return true
  }

  async sendToFingerprint (fingerprint: string, json: string): Promise<number> {
    const ids = await this.#node.command.smembers(this.#fingerprintKey(fingerprint))
    if (ids.length === 0) return 0
    const nodes = await this.#node.command.hmget(this.#node.key('connections'), ...ids)
    const byNode = new Map<string, string[]>()
    for (const [index, node] of nodes.entries()) {
      if (node === null || node === this.#node.id) continue
      const list = byNode.get(node)
      if (list === undefined) byNode.set(node, [ids[index] as string])
      else list.push(ids[index] as string)
    }
    await Promise.all([...byNode].map(([node, list]) => this.#push(node, list, json)))
    let reached = 0
    for (const list of byNode.values()) reached += list.length
    return reached
  }

  async changeMembership (connectionId: string, room: string, change: MembershipChange): Promise<void> {
    const node = await this.#node.command.hget(this.#node.key('connections'), connectionId)
    if (node === null || node === this.#node.id) throw new RoomError(ERRORS.connectionNotFound(connectionId))
    const request: MembershipRequest = { requestId: randomUUID(), replyTo: this.#node.id, connectionId, room, change }
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(request.requestId)
        reject(new RoomError(ERRORS.nodeDidNotAnswer(connectionId)))
      }, this.#node.requestTimeout)
      this.#pending.set(request.requestId, { resolve, reject, timer })
    })
    await this.#node.publish(this.#node.channelOfNode(node), 'membership', JSON.stringify(request))
    await answered
  }

  #push (node: string, connectionIds: string[], json: string): Promise<void> {
    return this.#node.publish(this.#node.channelOfNode(node), 'push', `${JSON.stringify(connectionIds)}\n${json}`)
  }

  #receive (kind: string, payload: string): void {
    const handlers = this.#handlers
    if (handlers === null) return
    if (kind === 'push') {
      const split = payload.indexOf('\n')
      handlers.push(JSON.parse(payload.slice(0, split)) as string[], payload.slice(split + 1))
    } else if (kind === 'membership') {
      const request = JSON.parse(payload) as MembershipRequest
      handlers.changeMembership(request.connectionId, request.room, request.change).then(
        () => this.#reply(request, null),
        (error: unknown) => this.#reply(request, errorMessage(error)))
    } else if (kind === 'membership-reply') {
      const reply = JSON.parse(payload) as MembershipReply
      const pending = this.#pending.get(reply.requestId)
      if (pending === undefined) return
      this.#pending.delete(reply.requestId)
      clearTimeout(pending.timer)
      if (reply.error === null) pending.resolve()
      else pending.reject(new RoomError(reply.error))
    }
  }

  #reply (request: MembershipRequest, error: string | null): void {
    const reply: MembershipReply = { requestId: request.requestId, error }
    this.#node.publish(this.#node.channelOfNode(request.replyTo), 'membership-reply', JSON.stringify(reply))
      .catch((failure: unknown) => this.#writeFailed(failure))
  }

  /** Writes this node's connections back to Redis, and removes those it recorded that are gone. */
  async #resync (): Promise<void> {
    const { command } = this.#node
    const recorded = await command.hgetall(this.#connectionsOfNode())
    const batch = command.multi()
    for (const [id, fingerprint] of Object.entries(recorded)) {
      if (this.#local.has(id)) continue
      batch.hdel(this.#node.key('connections'), id).hdel(this.#connectionsOfNode(), id)
      if (fingerprint !== '') batch.srem(this.#fingerprintKey(fingerprint), id)
    }
    for (const [id, fingerprint] of this.#local) {
      batch.hset(this.#node.key('connections'), id, this.#node.id).hset(this.#connectionsOfNode(), id, fingerprint)
      if (fingerprint !== '') batch.sadd(this.#fingerprintKey(fingerprint), id)
    }
    await batch.exec()
  }

  #writeFailed (error: unknown): void {
    // An outage is logged once by the node; the write-back after it repairs what failed here.
    this.#node.log.debug({ err: error }, 'fastify-actionhero-ws: a cluster write failed')
  }

  #connectionsOfNode (): string {
    return this.#node.key(`node:${this.#node.id}:connections`)
  }

  #fingerprintKey (fingerprint: string): string {
    return this.#node.key(`fingerprint:${fingerprint}`)
  }
}
