/**
 * Every action over HTTP at `apiPath`: `GET|POST <apiPath>/:action` and `<apiPath>?action=name`,
 * params from the query and the JSON body. Errors answer 4xx/5xx with `{ error }`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS } from '../types/protocol.js'
import type { ActionRegistry, WebConnection } from './actions.js'
import type { Lifecycle } from './lifecycle.js'
import { isPlainObject } from './options.js'
import { actionResultBody } from './reply.js'

export interface HttpApiOptions {
  apiPath: string
  actions: ActionRegistry
  lifecycle: Lifecycle
}

type ApiRequest = FastifyRequest<{ Params: { action?: string }, Querystring: Record<string, unknown> }>

export const httpApi: FastifyPluginAsync<HttpApiOptions> = async (fastify, { apiPath, actions, lifecycle }) => {
  async function handle (request: ApiRequest, reply: FastifyReply): Promise<unknown> {
    if (lifecycle.closing) return reply.code(503).send({ error: ERRORS.shuttingDown })
    const params: Record<string, unknown> = { ...request.query, ...(isPlainObject(request.body) ? request.body : {}) }
    const connection: WebConnection = {
      type: 'web',
      id: request.id,
      remoteIP: request.ip,
      remotePort: request.socket.remotePort ?? 0,
      fingerprint: request.fingerprint,
      connectedAt: Date.now(),
      params,
      request
    }
    const outcome = await lifecycle.track(Promise.resolve(actions.run(request.params.action ?? params.action, params, connection)))
    if (outcome.ok) return actionResultBody(outcome.result) ?? {}
    return reply.code(outcome.statusCode).send({ error: outcome.error })
  }

  fastify.route({ method: ['GET', 'POST'], url: apiPath, handler: handle })
  fastify.route({ method: ['GET', 'POST'], url: `${apiPath}/:action`, handler: handle })
}
