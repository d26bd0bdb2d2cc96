/**
 * The `action` event: runs an action for a socket, within the connection's `simultaneousActions`.
 */
import { ERRORS } from '../../types/protocol.js'
import type { ActionOutcome } from '../actions.js'
import type { EventHandler, IncomingRequest, ServerContext } from '../dispatch.js'
import { isPlainObject } from '../options.js'
import { replyAction, replyActionError } from '../reply.js'

const action: EventHandler = (request, server) => {
  const { connection } = request
  connection.totalActions++
  if (server.lifecycle.closing) return replyActionError(request, ERRORS.shuttingDown)
  if (connection.pendingActions >= server.simultaneousActions) return replyActionError(request, ERRORS.tooManyPendingActions)
  // The params object was just decoded from this frame and belongs to no one else: validation may edit it.
  const params = isPlainObject(request.message.params) ? request.message.params : {}
  connection.params = params
  connection.pendingActions++
  const name = params.action
  const outcome = server.actions.run(name, params, connection)
  if (!(outcome instanceof Promise)) return replyOutcome(request, outcome, name, server)
  // Tracked until the reply is written, so that shutdown does not close the socket in between.
  return server.lifecycle.track(outcome.then((settled) => replyOutcome(request, settled, name, server)))
}

function replyOutcome (request: IncomingRequest, outcome: ActionOutcome, name: unknown, server: ServerContext): void {
  request.connection.pendingActions--
  if (!outcome.ok) return replyActionError(request, outcome.error)
  if (!replyAction(request, outcome.result)) {
    // The action succeeded; what failed is the server's encoding of its result: an error, as a 500 would be.
    server.log.error({ connection: request.connection.id, action: name }, `fastify-actionhero-ws: ${ERRORS.resultNotEncodable}`)
  }
}

export const actionEvents = { action }
