/**
 * The room events: `roomAdd`, `roomLeave`, `roomView` and `say`.
 */
import { ERRORS } from '../../types/protocol.js'
import type { EventHandler, IncomingRequest, ServerContext } from '../dispatch.js'
import { errorMessage } from '../errors.js'
import { isRoomName } from '../options.js'
import { replyVerb, replyVerbError } from '../reply.js'

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
      return replyVerbError(request, errorMessage(error), failureData)
    }
    replyVerb(request, data)
  }
}

const roomAdd = roomEvent(async ({ connection }, { rooms }, room) => {
  await rooms.join(connection, room)
  return true
}, false)

const roomLeave = roomEvent(async ({ connection }, { rooms }, room) => {
  await rooms.leave(connection, room)
  return true
}, false)

const roomView = roomEvent(({ connection }, { rooms }, room) => rooms.viewFor(connection, room))

const sayInRoom = roomEvent(async ({ connection, message }, { rooms }, room) => {
  await rooms.say(connection, room, message.message)
})

const say: EventHandler = (request, server) => {
  const { room, message } = request.message
  if (room === undefined || room === '' || message === undefined || message === null || message === '') {
    return replyVerbError(request, ERRORS.sayIncomplete)
  }
  return sayInRoom(request, server)
}

export const roomEvents = { roomAdd, roomLeave, roomView, say }
