/**
 * `fastify-actionhero-ws/client` in Node.js: the same client, whose Primus socket speaks the plugin's
 * default transport (ws and JSON at `/primus`) unless `options.Primus` gives another, such as
 * `app.actionheroWs.primus.Socket`.
 */
import { DEFAULT_SERVER_OPTIONS } from '../options.js'
import { createPrimusSocket, type PrimusSocket, type PrimusSocketConstructor } from '../primus.js'
import { ActionheroClient as BaseClient, type ClientOptions } from './client.js'

export * from './index.js'

type Decoder = (data: unknown, done: (error: Error | undefined, message?: unknown) => void) => void

// Building a Primus client compiles its library: once per process is enough.
let DefaultSocket: PrimusSocketConstructor | undefined

function defaultSocket (): PrimusSocketConstructor {
  // As the generated browser client: the server's Primus has authorization, so a handshake that fails
  // (refused, or no server) ends the socket instead of retrying it.
  const Socket = createPrimusSocket({ ...DEFAULT_SERVER_OPTIONS, authorization: () => {} })
  // Primus runs its Node.js client in a vm context, whose JSON.parse makes objects of another realm
  // (on which `instanceof Object` and deepStrictEqual fail): messages are decoded in this realm instead.
  const decoder: Decoder = (data, done) => {
    if (typeof data !== 'string') return done(undefined, data)
    try {
      done(undefined, JSON.parse(data))
    } catch (error) {
      done(error as Error)
    }
  }
  ;(Socket as unknown as { prototype: { decoder: Decoder } }).prototype.decoder = decoder
  return Socket
}

export class ActionheroClient extends BaseClient {
  constructor (options: ClientOptions = {}, socket?: PrimusSocket) {
    super({ ...options, Primus: options.Primus ?? (DefaultSocket ??= defaultSocket()) }, socket)
  }
}
