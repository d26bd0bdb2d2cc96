/**
 * The `action` event: runs an action for a socket, within the connection's `simultaneousActions`.
 */
import { ERRORS } from '../../types/protocol.js'
import type { EventHandler } from '../dispatch.js'
import { isPlainObject } from '../options.js'
import { replyAction, replyActionError } from '../reply.js'

const action: EventHandler = async (request, server) => {
  const { connection } = request
  connection.totalActions++
  if (server.lifecycle.closing) return replyActionError(request, ERRORS.shuttingDown)
  if (connection.pendingActions >= server.simultaneousActions) return replyActionError(request, ERRORS.tooManyPendingActions)
  // The params object was just decoded from this frame and belongs to no one else: validation may edit it.
  const params = isPlainObject(request.message.params) ? request.message.params : {}
  connection.params = params
  connection.pendingActions++
  const outcome = await server.lifecycle.track(server.actions.run(params.action, params, connection))
    .finally(() => { connection.pendingActions-- })
  if (outcome.ok) replyAction(request, outcome.result)
  else replyActionError(request, outcome.error)
}

export const actionEvents = { action }
