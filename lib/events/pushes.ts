/**
 * `pushesSince`: where the connection is in its visitor's push stream, and with `since` the pushes it
 * missed, written first (answered as `roomAdd` is, with `epoch`, `offset` and `recovered`).
 */
import type { EventHandler } from '../dispatch.js'
import { errorMessage } from '../errors.js'
import { reply, replyVerbError } from '../reply.js'
import { isHistoryPosition } from '../rooms/history.js'

const pushesSince: EventHandler = async (request, { pushes }) => {
  const { since } = request.message
  let fields
  try {
    fields = await pushes.catchUp(request.connection, isHistoryPosition(since) ? since : undefined)
  } catch (error) {
    return replyVerbError(request, errorMessage(error))
  }
  reply(request, { status: 'OK', ...fields })
}

export const pushEvents = { pushesSince }
