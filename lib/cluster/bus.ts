/**
 * What nodes say to each other over Redis pub/sub, and how it is checked. The bus is untrusted input:
 * anyone with access to the Redis, or a node of another version during a rolling deploy, may publish on
 * a channel. A message that does not decode to what its kind promises is dropped, never thrown.
 *
 * A message is `ahws/<version>\n<kind>\n<origin node>\n<payload>`.
 */
import type { ChatMessage, HistoryPosition, PresenceMessage, PushMessage } from '../../types/protocol.js'
import type { MembershipChange } from './cluster.js'

export const BUS_VERSION = 1
const MAGIC = `ahws/${BUS_VERSION}\n`

export interface BusMessage {
  kind: string
  origin: string
  payload: string
}

/** Why a message was dropped. */
export class BusError extends Error {}

export function encodeBusMessage (kind: string, origin: string, payload: string): string {
  return `${MAGIC}${kind}\n${origin}\n${payload}`
}

export function decodeBusMessage (text: string): BusMessage {
  if (!text.startsWith(MAGIC)) {
    throw new BusError(text.startsWith('ahws/') ? `unknown bus version ${JSON.stringify(text.slice(5, text.indexOf('\n')))}` : 'not a message of this plugin')
  }
  const kindEnd = text.indexOf('\n', MAGIC.length)
  const originEnd = kindEnd === -1 ? -1 : text.indexOf('\n', kindEnd + 1)
  if (originEnd === -1) throw new BusError('truncated message')
  return { kind: text.slice(MAGIC.length, kindEnd), origin: text.slice(kindEnd + 1, originEnd), payload: text.slice(originEnd + 1) }
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new BusError('payload is not JSON')
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A chat message published to `room`'s channel. */
export function decodeChat (payload: string, room: string): ChatMessage {
  const message = parseJson(payload)
  if (!isRecord(message) || message.context !== 'user' || message.room !== room || typeof message.sentAt !== 'number' ||
    (typeof message.from !== 'string' && message.from !== 0)) {
    throw new BusError('not a chat message of this room')
  }
  return message as unknown as ChatMessage
}

const PRESENCE_EVENTS = new Set(['join', 'leave', 'update'])

/** A change of who is in `room` (issue 22), published on the room's channel by the node that decided it. */
export function decodePresence (payload: string, room: string): PresenceMessage {
  const message = parseJson(payload)
  if (!isRecord(message) || message.context !== 'presence' || message.room !== room || !PRESENCE_EVENTS.has(message.event as string) ||
    typeof message.key !== 'string' || !Number.isSafeInteger(message.version) || !isRecord(message.member) ||
    typeof message.member.id !== 'string' || typeof message.member.joinedAt !== 'number') {
    throw new BusError('not a presence change of this room')
  }
  return message as unknown as PresenceMessage
}

/** A push of a visitor's stream, as its channel carries it: the JSON object written to the client, with its place. */
export function decodeStreamPush (payload: string): { message: PushMessage, position: HistoryPosition } {
  const message = parseJson(payload)
  if (!isRecord(message) || typeof message.pushEpoch !== 'string' || !Number.isSafeInteger(message.pushOffset)) throw new BusError('not a push of a stream')
  return { message, position: { epoch: message.pushEpoch, offset: message.pushOffset as number } }
}

/** A push: the connection ids it is for, then the JSON to write to them as it is. */
export function encodePush (connectionIds: readonly string[], json: string): string {
  return `${JSON.stringify(connectionIds)}\n${json}`
}

export function decodePush (payload: string): { connectionIds: string[], json: string } {
  const split = payload.indexOf('\n')
  const connectionIds = split === -1 ? null : parseJson(payload.slice(0, split))
  if (!Array.isArray(connectionIds) || !connectionIds.every((id) => typeof id === 'string')) throw new BusError('not a push')
  return { connectionIds, json: payload.slice(split + 1) }
}

export interface MembershipRequest {
  requestId: string
  replyTo: string
  connectionId: string
  room: string
  change: MembershipChange
}

export interface MembershipReply {
  requestId: string
  error: string | null
}

const MEMBERSHIP_CHANGES = new Set<string>(['add', 'remove', 'update'] satisfies MembershipChange[])

export function decodeMembershipRequest (payload: string): MembershipRequest {
  const request = parseJson(payload)
  if (!isRecord(request) || typeof request.requestId !== 'string' || typeof request.replyTo !== 'string' ||
    typeof request.connectionId !== 'string' || typeof request.room !== 'string' || !MEMBERSHIP_CHANGES.has(request.change as string)) {
    throw new BusError('not a membership request')
  }
  return request as unknown as MembershipRequest
}

export function decodeMembershipReply (payload: string): MembershipReply {
  const reply = parseJson(payload)
  if (!isRecord(reply) || typeof reply.requestId !== 'string' || (typeof reply.error !== 'string' && reply.error !== null)) {
    throw new BusError('not a membership reply')
  }
  return reply as unknown as MembershipReply
}

/**
 * What a node is asked to do to some of its connections: end them with a reason (a kick), or run
 * `authorize` again on their handshake (revocation). From another node or from an emitter.
 */
export type ConnectionCommand =
  | { kind: 'disconnect', reason: string, reconnect: boolean }
  | { kind: 'reauthorize' }

/** The longest reason a kick carries, in characters: a bus message cannot make a node write more. */
export const MAX_REASON_LENGTH = 1024

/** A command's payload: the connection ids it is for, and its fields. */
export function encodeCommand (connectionIds: readonly string[], command: ConnectionCommand): string {
  return command.kind === 'disconnect'
    ? JSON.stringify({ connectionIds, reason: command.reason, reconnect: command.reconnect })
    : JSON.stringify({ connectionIds })
}

export function decodeCommand (kind: ConnectionCommand['kind'], payload: string): { connectionIds: string[], command: ConnectionCommand } {
  const decoded = parseJson(payload)
  if (!isRecord(decoded) || !Array.isArray(decoded.connectionIds) || !decoded.connectionIds.every((id) => typeof id === 'string')) {
    throw new BusError(`not a ${kind} request`)
  }
  const connectionIds = decoded.connectionIds as string[]
  if (kind === 'reauthorize') return { connectionIds, command: { kind } }
  const { reason, reconnect } = decoded
  if (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH || typeof reconnect !== 'boolean') throw new BusError('not a disconnect request')
  return { connectionIds, command: { kind, reason, reconnect } }
}
