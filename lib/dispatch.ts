/**
 * Message dispatch: a decoded frame becomes an `IncomingRequest` (with its `messageCount` taken now,
 * on arrival) and goes to the handler for its `event`. Adding a client event is one entry in `HANDLERS`.
 * Every request still being handled counts against the connection's `maxPendingRequests`, whatever
 * its event: a client cannot pile up work (file reads, room changes, chat) faster than it is done.
 */
import type { FastifyBaseLogger } from 'fastify'
import { ERRORS, MAX_MESSAGE_ID_LENGTH, type MessageId } from '../types/protocol.js'
import type { ActionRegistry } from './actions.js'
import type { Connection } from './connection.js'
import type { Credentials } from './credentials.js'
import { actionEvents } from './events/action.js'
import { connectionEvents } from './events/connection.js'
import { credentialEvents } from './events/credentials.js'
import { fileEvents } from './events/file.js'
import { pushEvents } from './events/pushes.js'
import { roomEvents } from './events/rooms.js'
import type { PublicFolder } from './files.js'
import type { Lifecycle } from './lifecycle.js'
import type { Metrics } from './observability/metrics.js'
import { isPlainObject } from './options.js'
import { replyActionError, replyFile, replyVerbError, type ReplyTarget } from './reply.js'
import type { Pushes } from './pushes/pushes.js'
import type { Rooms } from './rooms/rooms.js'

/** One client message on its way to its handler. */
export interface IncomingRequest extends ReplyTarget {
  readonly message: Record<string, unknown>
}

/** What event handlers may use of the server. */
export interface ServerContext {
  readonly actions: ActionRegistry
  readonly lifecycle: Lifecycle
  readonly rooms: Rooms
  readonly pushes: Pushes
  readonly publicFolder: PublicFolder
  readonly credentials: Credentials
  readonly simultaneousActions: number
  readonly maxPendingRequests: number
  readonly log: FastifyBaseLogger
  readonly metrics: Metrics
}

export type EventHandler = (request: IncomingRequest, server: ServerContext) => void | Promise<void>

const HANDLERS: ReadonlyMap<string, EventHandler> = new Map(Object.entries({
  ...actionEvents,
  ...connectionEvents,
  ...credentialEvents,
  ...fileEvents,
  ...pushEvents,
  ...roomEvents
}))

/** Handles one decoded frame; a frame that failed to decode is passed as `undefined`. */
export function dispatchMessage (server: ServerContext, connection: Connection, message: unknown): void {
  const messageCount = connection.received()
  const { metrics } = server
  if (!isPlainObject(message)) {
    metrics.messageReceived('invalid')
    metrics.protocolError('not_an_object')
    replyVerbError({ connection, messageCount, messageId: undefined }, ERRORS.notAnObject)
    return
  }
  const request: IncomingRequest = { connection, message, messageCount, messageId: readMessageId(message.messageId) }
  const handler = typeof message.event === 'string' ? HANDLERS.get(message.event) : undefined
  // Only an event a handler has names a label: a client chooses what it sends.
  metrics.messageReceived(handler === undefined ? 'unknown' : message.event as string)
  if (handler === undefined) {
    metrics.protocolError('unknown_event')
    replyVerbError(request, ERRORS.unknownVerb, null)
    return
  }
  if (connection.pendingRequests >= server.maxPendingRequests && handler !== connectionEvents.quit) {
    metrics.protocolError('too_many_pending_requests')
    refuse(request, ERRORS.tooManyPendingActions)
    return
  }
  let handled: void | Promise<void>
  try {
    handled = handler(request, server)
  } catch (error) {
    handlerFailed(server, request, error)
    return
  }
  if (handled === undefined) return
  connection.pendingRequests++
  handled.then(() => { connection.pendingRequests-- }, (error: unknown) => {
    connection.pendingRequests--
    handlerFailed(server, request, error)
  })
}

/** Answers a request its handler will not see, in the shape of its event's reply. */
function refuse (request: IncomingRequest, error: string): void {
  const { event } = request.message
  if (event === 'action') replyActionError(request, error)
  else if (event === 'file') replyFile(request, error)
  else replyVerbError(request, error)
}

function handlerFailed (server: ServerContext, request: IncomingRequest, error: unknown): void {
  server.log.error({ err: error, connection: request.connection.id, event: request.message.event },
    'fastify-actionhero-ws: an event handler failed')
  server.metrics.protocolError('internal_error')
  refuse(request, ERRORS.internalError)
}

function readMessageId (value: unknown): MessageId | undefined {
  if (typeof value === 'string') return value.length <= MAX_MESSAGE_ID_LENGTH ? value : undefined
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}
