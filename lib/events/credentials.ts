/**
 * `refresh`: fresh credentials for the connection (PROTOCOL.md 3.6), for the app's `refresh` option.
 * Answered with when they expire; refused with the reason, and the connection closed with it.
 */
import { ERRORS } from '../../types/protocol.js'
import type { EventHandler } from '../dispatch.js'
import { isPlainObject } from '../options.js'
import { replyVerb, replyVerbError } from '../reply.js'

const refresh: EventHandler = async (request, { credentials }) => {
  // A server without the `refresh` option does not know the verb.
  if (!credentials.refreshes) return replyVerbError(request, ERRORS.unknownVerb, null)
  const { params = {} } = request.message
  if (!isPlainObject(params)) return replyVerbError(request, ERRORS.invalidParameter('params', 'must be an object'))
  const renewed = await credentials.refresh(request.connection, params)
  if (typeof renewed !== 'string') return replyVerb(request, renewed)
  replyVerbError(request, renewed)
  request.connection.close(renewed, false)
}

export const credentialEvents = { refresh }
