/**
 * Kicks: ending connections anywhere in the cluster, from any node or an emitter, with a reason the
 * client gets (PROTOCOL.md 3.6). The same options on both, read here.
 */
import { ERRORS } from '../types/protocol.js'
import { MAX_REASON_LENGTH, type ConnectionCommand } from './cluster/bus.js'
import { InvalidDisconnectError } from './errors.js'
import { isPlainObject } from './options.js'

/** Some connections: one by its id, or every connection of a visitor (`{ fingerprint }`). */
export type ConnectionTarget = string | { fingerprint: string }

export interface DisconnectOptions {
  /** What the client is told (its `closed` event); default `the server closed this connection`. At most 1024 characters. */
  reason?: string
  /** Whether the client may reconnect (to this or another node); default false: it stays away. */
  reconnect?: boolean
}

/** The bus command of a kick, from its options; throws on what cannot be sent. */
export function disconnectCommand (options: DisconnectOptions = {}): Extract<ConnectionCommand, { kind: 'disconnect' }> {
  if (!isPlainObject(options)) throw new InvalidDisconnectError('options must be an object { reason?, reconnect? }')
  const { reason = ERRORS.disconnected, reconnect = false } = options
  if (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH) throw new InvalidDisconnectError(`reason must be a string of at most ${MAX_REASON_LENGTH} characters`)
  if (typeof reconnect !== 'boolean') throw new InvalidDisconnectError('reconnect must be a boolean')
  return { kind: 'disconnect', reason, reconnect }
}
