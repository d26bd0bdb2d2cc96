/**
 * Events about the connection itself: `detailsView`, `documentation`, `quit` and `exit`.
 */
import type { EventHandler } from '../dispatch.js'
import { replyVerb } from '../reply.js'

const detailsView: EventHandler = (request) => {
  replyVerb(request, request.connection.details())
}

const documentation: EventHandler = (request, server) => {
  replyVerb(request, server.actions.documentation())
}

/** No reply: the connection ends and the client is told not to reconnect. */
const quit: EventHandler = (request) => {
  request.connection.destroy()
}

export const connectionEvents = { detailsView, documentation, quit, exit: quit }
