/**
 * The room events: `roomAdd`, `roomLeave`, `roomView`, `roomHistory` and `say`.
 */
import { ERRORS, type RoomAddFields } from '../../types/protocol.js'
import type { EventHandler, IncomingRequest, ServerContext } from '../dispatch.js'
import { errorMessage } from '../errors.js'
import { isTraced, sayChannel, trace } from '../observability/tracing.js'
import { isRoomName } from '../options.js'
import { reply, replyVerb, replyVerbError } from '../reply.js'
import { isHistoryPosition } from '../rooms/history.js'

/** What the client is told of a failed room request; what it is not told (a system error, a non-Error) is logged. */
function failure (request: IncomingRequest, server: ServerContext, error: unknown): string {
  const message = errorMessage(error)
  if (message === ERRORS.internalError) {
    server.log.error({ err: error, connection: request.connection.id, event: request.message.event }, 'fastify-actionhero-ws: a room request failed')
  }
  return message
}

/** A room event: its `room` checked, then `run`'s result as `data`, or the error with `failureData`. */
function roomEvent (
  run: (request: IncomingRequest, server: ServerContext, room: string) => Promise<unknown>,
  failureData?: false
): EventHandler {
  return async (request, server) => {
    const { room } = request.message
    if (!isRoomName(room)) return replyVerbError(request, ERRORS.roomRequired, failureData)
    let data: unknown
    try {
      data = await run(request, server, room)
    } catch (error) {
      return replyVerbError(request, failure(request, server, error), failureData)
    }
    replyVerb(request, data)
  }
}

/**
 * `roomAdd`: `data: true`, and with history on the room's `epoch` and `offset` beside it; with
 * `since`, the messages after it first, and `recovered`; in a presence room, the list (not with
 * `presence: false`: a member of a large audience that does not show it saves reading and sending it).
 */
const roomAdd: EventHandler = async (request, server) => {
  const { rooms } = server
  const { room, since, presence } = request.message
  if (!isRoomName(room)) return replyVerbError(request, ERRORS.roomRequired, false)
  let fields: RoomAddFields
  try {
    fields = await rooms.join(request.connection, room, isHistoryPosition(since) ? since : undefined, presence !== false)
  } catch (error) {
    return replyVerbError(request, failure(request, server, error), false)
  }
  reply(request, { status: 'OK', data: true, ...fields })
}

const roomLeave = roomEvent(async ({ connection }, { rooms }, room) => {
  await rooms.leave(connection, room)
  return true
}, false)

/** `roomView`: the members; with `count: true`, only how many (and presence keys), cheap in a large room. */
const roomView = roomEvent(({ connection, message }, { rooms }, room) => rooms.viewFor(connection, room, message.count === true))

/**
 * `roomHistory`: the last messages of a room the connection is in, oldest first; `limit`: at most that
 * many (capped). Answered in the connection's turn among its replays, once it has read what came before.
 */
const roomHistory: EventHandler = async (request, { rooms }) => {
  const { room, limit } = request.message
  if (!isRoomName(room)) return replyVerbError(request, ERRORS.roomRequired)
  if (limit !== undefined && !(Number.isSafeInteger(limit) && (limit as number) > 0)) {
    return replyVerbError(request, ERRORS.invalidParameter('limit', 'must be a positive integer'))
  }
  try {
    await rooms.historyFor(request.connection, room, limit as number | undefined, (messages) => replyVerb(request, messages))
  } catch (error) {
    replyVerbError(request, errorMessage(error))
  }
}

const sayInRoom = roomEvent(async ({ connection, message }, { rooms }, room) => {
  if (!isTraced(sayChannel)) return await rooms.say(connection, room, message.message)
  await trace(sayChannel, { room, connectionId: connection.id }, () => rooms.say(connection, room, message.message), settleSay)
})

function settleSay (_said: void, context: { outcome?: string }): void {
  context.outcome = 'ok'
}

const say: EventHandler = (request, server) => {
  const { room, message } = request.message
  if (room === undefined || room === '' || message === undefined || message === null || message === '') {
    return replyVerbError(request, ERRORS.sayIncomplete)
  }
  return sayInRoom(request, server)
}

export const roomEvents = { roomAdd, roomLeave, roomView, roomHistory, say }
