/**
 * Every action over HTTP at `apiPath`: `POST <apiPath>/:action` and `<apiPath>?action=name`, params from
 * the query and the JSON body; `GET` too when `apiMethods` lists it (params from the query). Each call
 * passes the gate (gate.ts) as a socket does: its origin, then `authorize`, whose result is the web
 * connection's `auth`. Errors answer 4xx/5xx with `{ error }`.
 *
 * A cross-site form can POST `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`,
 * and a link or an `<img>` can GET, all without a preflight: a POST whose body is not JSON is refused
 * (415), GET is refused (405) unless the app opts in, and the gate judges the origin of the rest.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS } from '../types/protocol.js'
import type { ActionRegistry, WebConnection } from './actions.js'
import type { Gate } from './gate.js'
import type { Lifecycle } from './lifecycle.js'
import { isPlainObject, type ApiMethod } from './options.js'
import { actionResultBody } from './reply.js'

export interface HttpApiOptions {
  apiPath: string
  actions: ActionRegistry
  lifecycle: Lifecycle
  gate: Gate
  methods: readonly ApiMethod[]
}

type ApiRequest = FastifyRequest<{ Params: { action?: string }, Querystring: Record<string, unknown> }>

export const httpApi: FastifyPluginAsync<HttpApiOptions> = async (fastify, { apiPath, actions, lifecycle, gate, methods }) => {
  const allow = methods.join(', ')

  async function handle (request: ApiRequest, reply: FastifyReply): Promise<unknown> {
    if (lifecycle.closing) return reply.code(503).send({ error: ERRORS.shuttingDown })
    if (!gate.admitOrigin(request, reply, methods, 'API request')) return reply
    if (request.method === 'OPTIONS') return reply.code(204).header('allow', allow).send()
    // HEAD is GET without the body (Fastify serves it with the GET route).
    const method = request.method === 'HEAD' ? 'GET' : request.method
    if (!methods.includes(method as ApiMethod)) return reply.code(405).header('allow', allow).send({ error: ERRORS.methodNotAllowed })
    if (method === 'POST' && !hasJsonOrNoBody(request)) return reply.code(415).send({ error: ERRORS.bodyNotJson })
    const admission = await gate.authorize(request, reply, 'API request')
    if (admission === null) return reply
    const params: Record<string, unknown> = { ...request.query, ...(isPlainObject(request.body) ? request.body : {}) }
    const connection: WebConnection = {
      type: 'web',
      id: request.id,
      remoteIP: request.ip,
      remotePort: request.socket.remotePort ?? 0,
      fingerprint: request.fingerprint,
      connectedAt: Date.now(),
      params,
      request,
      auth: admission.auth
    }
    const outcome = await lifecycle.track(Promise.resolve(actions.run(request.params.action ?? params.action, params, connection)))
    if (outcome.ok) return actionResultBody(outcome.result) ?? {}
    return reply.code(outcome.statusCode).send({ error: outcome.error })
  }

  // Bodies other than JSON are refused unread (415): only the app's JSON parser reads one here.
  fastify.removeContentTypeParser('text/plain')
  fastify.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  // Every method the API answers for: the listed ones, the others with 405, and CORS preflights (OPTIONS).
  const routeMethods = ['GET', 'POST', 'OPTIONS']
  fastify.route({ method: routeMethods, url: apiPath, handler: handle })
  fastify.route({ method: routeMethods, url: `${apiPath}/:action`, handler: handle })
}

/** A JSON body (`application/json`, any parameters), or none at all (a POST with its params in the query). */
function hasJsonOrNoBody ({ headers }: FastifyRequest): boolean {
  const type = headers['content-type']
  if (type === undefined) return headers['transfer-encoding'] === undefined && (headers['content-length'] ?? '0') === '0'
  return type.split(';', 1)[0]?.trim().toLowerCase() === 'application/json'
}
