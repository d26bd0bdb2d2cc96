/**
 * The connection directory of a cluster, in Redis: which node holds each connection (and each
 * fingerprint's connections), so that a push or a membership change reaches it over that node's
 * channel. Nodes only read their own channel. The keys are RedisSchema's.
 */
import { randomUUID } from 'node:crypto'
import { ERRORS } from '../../types/protocol.js'
import type { Connection } from '../connection.js'
import { errorMessage, RoomError } from '../errors.js'
import {
  BusError, decodeCommand, decodeMembershipReply, decodeMembershipRequest, decodePush, encodeCommand, encodePush, type ConnectionCommand,
  type MembershipReply, type MembershipRequest
} from './bus.js'
import type { Cluster, ClusterHandlers, MembershipChange } from './cluster.js'
import type { ConnectionTarget } from '../kicks.js'
import { locate, publishToNodes } from './directory.js'
import type { RedisNode } from './redis-node.js'

/** How many connections one write-back transaction carries, so that none blocks Redis for long. */
const RESYNC_BATCH = 500

interface PendingRequest {
  resolve: () => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout
}

export class RedisCluster implements Cluster {
  readonly #node: RedisNode
  #handlers: ClusterHandlers | null = null
  /**
   * This node's connections, as the server keeps them: the truth it writes back after an outage. The
   * server changes them and calls `connected`/`disconnected` in the same step.
   */
  readonly #connections: ReadonlyMap<string, Pick<Connection, 'fingerprint'>>
  /** Membership changes asked of other nodes, waiting for their answer (each bounded by requestTimeout). */
  readonly #pending = new Map<string, PendingRequest>()

  constructor (node: RedisNode, connections: ReadonlyMap<string, Pick<Connection, 'fingerprint'>>) {
    this.#node = node
    this.#connections = connections
    node.onResync(() => this.#resync())
  }

  async start (handlers: ClusterHandlers): Promise<void> {
    this.#handlers = handlers
    await this.#node.subscribe(this.#node.schema.nodeChannel(this.#node.id), (kind, payload) => this.#receive(kind, payload))
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
    const { schema, id: node } = this.#node
    const fingerprint = connection.fingerprint ?? ''
    const batch = this.#node.command.multi()
      .hset(schema.connections, connection.id, node)
      .hset(schema.connectionsOf(node), connection.id, fingerprint)
    if (fingerprint !== '') batch.sadd(schema.fingerprint(fingerprint), connection.id)
    batch.exec().catch((error: unknown) => this.#node.writeFailed(error))
  }

  disconnected (connection: Connection): void {
    const { schema, id: node } = this.#node
    const batch = this.#node.command.multi()
      .hdel(schema.connections, connection.id)
      .hdel(schema.connectionsOf(node), connection.id)
    if (connection.fingerprint !== null) batch.srem(schema.fingerprint(connection.fingerprint), connection.id)
    batch.exec().catch((error: unknown) => this.#node.writeFailed(error))
  }

  async send (connectionId: string, json: string): Promise<boolean> {
    return await this.#pushTo(connectionId, json) > 0
  }

  sendToFingerprint (fingerprint: string, json: string): Promise<number> {
    return this.#pushTo({ fingerprint }, json)
  }

  async command (target: ConnectionTarget, command: ConnectionCommand): Promise<number> {
    const located = await locate(this.#node, target, this.#node.id)
    return publishToNodes(this.#node, located, command.kind, (ids) => encodeCommand(ids, command))
  }

  async #pushTo (target: ConnectionTarget, json: string): Promise<number> {
    const located = await locate(this.#node, target, this.#node.id)
    return publishToNodes(this.#node, located, 'push', (ids) => encodePush(ids, json))
  }

  async changeMembership (connectionId: string, room: string, change: MembershipChange): Promise<void> {
    const [node] = (await locate(this.#node, connectionId, this.#node.id)).keys()
    if (node === undefined) throw new RoomError(ERRORS.connectionNotFound(connectionId))
    const request: MembershipRequest = { requestId: randomUUID(), replyTo: this.#node.id, connectionId, room, change }
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(request.requestId)
        reject(new RoomError(ERRORS.nodeDidNotAnswer(connectionId)))
      }, this.#node.requestTimeout)
      this.#pending.set(request.requestId, { resolve, reject, timer })
    })
    try {
      await this.#node.publish(this.#node.schema.nodeChannel(node), 'membership', JSON.stringify(request))
    } catch (error) {
      // The request never left: no answer will come, and `answered` must not reject later unobserved.
      const pending = this.#pending.get(request.requestId)
      if (pending !== undefined) clearTimeout(pending.timer)
      this.#pending.delete(request.requestId)
      throw error
    }
    await answered
  }

  /** What another node addressed to this one; a malformed message throws a BusError, which the node logs and drops. */
  #receive (kind: string, payload: string): void {
    const handlers = this.#handlers
    if (handlers === null) return
    if (kind === 'push') {
      const { connectionIds, json } = decodePush(payload)
      handlers.push(connectionIds, json)
    } else if (kind === 'membership') {
      const request = decodeMembershipRequest(payload)
      handlers.changeMembership(request.connectionId, request.room, request.change).then(
        () => this.#reply(request, null),
        (error: unknown) => this.#reply(request, errorMessage(error)))
    } else if (kind === 'disconnect' || kind === 'reauthorize') {
      const { connectionIds, command } = decodeCommand(kind, payload)
      handlers.command(connectionIds, command)
    } else if (kind === 'membership-reply') {
      const reply = decodeMembershipReply(payload)
      const pending = this.#pending.get(reply.requestId)
      if (pending === undefined) return
      this.#pending.delete(reply.requestId)
      clearTimeout(pending.timer)
      if (reply.error === null) pending.resolve()
      else pending.reject(new RoomError(reply.error))
    } else {
      throw new BusError(`unknown kind ${JSON.stringify(kind)} on a node channel`)
    }
  }

  #reply (request: MembershipRequest, error: string | null): void {
    const reply: MembershipReply = { requestId: request.requestId, error }
    this.#node.publish(this.#node.schema.nodeChannel(request.replyTo), 'membership-reply', JSON.stringify(reply))
      .catch((failure: unknown) => this.#node.warn('publish', failure, 'could not answer a membership request'))
  }

  /**
   * Writes this node's connections back to Redis, and removes those it recorded that are gone. The
   * local state is read after the only await, and the batch sent at once: a connect or disconnect
   * before it is in the snapshot, one after it reaches Redis after the batch.
   */
  async #resync (): Promise<void> {
    const { command, schema, id: node } = this.#node
    const recorded = await command.hgetall(schema.connectionsOf(node))
    // Transactions of at most RESYNC_BATCH connections each, all sent before any answer comes back.
    const batches: Array<ReturnType<typeof command.multi>> = []
    let count = 0
    const batch = (): ReturnType<typeof command.multi> => {
      if (count++ % RESYNC_BATCH === 0) batches.push(command.multi())
      return batches[batches.length - 1] as ReturnType<typeof command.multi>
    }
    for (const [id, fingerprint] of Object.entries(recorded)) {
      if (this.#connections.has(id)) continue
      const gone = batch().hdel(schema.connections, id).hdel(schema.connectionsOf(node), id)
      if (fingerprint !== '') gone.srem(schema.fingerprint(fingerprint), id)
    }
    for (const [id, connection] of this.#connections) {
      const fingerprint = connection.fingerprint ?? ''
      const here = batch().hset(schema.connections, id, node).hset(schema.connectionsOf(node), id, fingerprint)
      if (fingerprint !== '') here.sadd(schema.fingerprint(fingerprint), id)
    }
    await Promise.all(batches.map((transaction) => transaction.exec()))
  }
}
