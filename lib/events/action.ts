/**
 * The `action` event: runs an action for a socket, within the connection's `simultaneousActions`.
 */
import { ERRORS } from '../../types/protocol.js'
import type { EventHandler, IncomingRequest, ServerContext } from '../dispatch.js'
import { isPlainObject } from '../options.js'
import { replyAction, replyActionError } from '../reply.js'

const action: EventHandler = (request, server) => {
  const { connection } = request
  connection.totalActions++
  if (server.lifecycle.closing) return replyActionError(request, ERRORS.shuttingDown)
  if (connection.pendingActions >= server.simultaneousActions) return replyActionError(request, ERRORS.tooManyPendingActions)
  // Tracked until the reply is written, so that shutdown does not close the socket in between.
  return server.lifecycle.track(runAndReply(request, server))
}

async function runAndReply (request: IncomingRequest, server: ServerContext): Promise<void> {
  const { connection } = request
  // The params object was just decoded from this frame and belongs to no one else: validation may edit it.
  const params = isPlainObject(request.message.params) ? request.message.params : {}
  connection.params = params
  connection.pendingActions++
  try {
    const outcome = await server.actions.run(params.action, params, connection)
    if (outcome.ok) replyAction(request, outcome.result)
    else replyActionError(request, outcome.error)
  } finally {
    connection.pendingActions--
  }
}

export const actionEvents = { action }
