/**
 * What several app servers share besides rooms: where each connection lives, so that `send`,
 * `sendToFingerprint` and membership changes reach a connection on any node. A single process
 * has no cluster: everything is local.
 */
import type { Connection } from '../connection.js'
import type { ConnectionCommand } from './bus.js'
import type { ConnectionTarget } from '../kicks.js'

/** `update`: its member details made again (`rooms.updateMember`), in the room given, or in every room of it for ''. */
export type MembershipChange = 'add' | 'remove' | 'update'

/** What the cluster asks of this node. */
export interface ClusterHandlers {
  /** Another node pushes `json` to some of this node's connections. */
  push (connectionIds: readonly string[], json: string): void
  /** Another node adds (removes, updates) one of this node's connections to (from, in) a room; rejects with the reason it cannot. */
  changeMembership (connectionId: string, room: string, change: MembershipChange): Promise<void>
  /** Another node (or an emitter) asks something of some of this node's connections: a kick, a reauthorize. */
  command (connectionIds: readonly string[], command: ConnectionCommand): void
}

export interface Cluster {
  start (handlers: ClusterHandlers): Promise<void>
  close (): Promise<void>
  /** Registers a connection of this node, so that other nodes can find it; called as the server adds it to its connections. */
  connected (connection: Connection): void
  disconnected (connection: Connection): void
  /** Sends to a connection on another node; false when no node has it. */
  send (connectionId: string, json: string): Promise<boolean>
  /** Sends to the connections with this fingerprint on other nodes; resolves how many. */
  sendToFingerprint (fingerprint: string, json: string): Promise<number>
  /** Asks the nodes that hold `target`'s connections (but this one) to carry out `command`; resolves for how many connections. */
  command (target: ConnectionTarget, command: ConnectionCommand): Promise<number>
  /** Changes the membership of a connection on another node, as that node's own `rooms.addMember` would. */
  changeMembership (connectionId: string, room: string, change: MembershipChange): Promise<void>
}
