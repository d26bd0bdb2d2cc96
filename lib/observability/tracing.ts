/**
 * Traces: the plugin publishes its actions, `say`, `file` and the socket's handshake on
 * `node:diagnostics_channel` tracing channels, so that OpenTelemetry (or anything else) can span them
 * without the plugin depending on it. The channel names and the context objects are the contract
 * (docs/OPERATING.md, "Tracing channels"): a context carries names and outcomes, never a message body.
 *
 * Every traced operation publishes `start` (its function runs inside `start.runStores`, so a store bound
 * with `start.bindStore`, such as OpenTelemetry's context, is active in the action's own code), then
 * `end` when its synchronous part returns, then `error` if it failed, then `asyncStart` and `asyncEnd`
 * once its outcome is known, at once for a synchronous one: a subscriber ends its span at `asyncEnd`,
 * whichever it was. When nobody subscribes, nothing is built: `hasSubscribers` is checked first
 * (TracingChannel#hasSubscribers: Node.js 20.13+ and 22.0+).
 */
import diagnosticsChannel, { type TracingChannel } from 'node:diagnostics_channel'
import { RoomError } from '../errors.js'

/** How the caller reached the plugin. */
export type TracedTransport = 'socket' | 'http'

/** How an operation ended: `refused` is the caller's mistake (a 4xx), `error` the server's or the app's (a 5xx). */
export type TracedOutcome = 'ok' | 'refused' | 'error'

interface TracedContext {
  /** Set before `asyncStart`. */
  outcome?: TracedOutcome
  /** Set before `error`: an Error whose message is the error string the caller got. */
  error?: Error
}

export interface ActionTraceContext extends TracedContext {
  /** The action's name; a name no action has is `UNKNOWN_ACTION`, so a client cannot invent span names. */
  readonly action: string
  readonly transport: TracedTransport
  /** The connection's id (a socket's, or the HTTP request's id). */
  readonly connectionId: string
  /** The HTTP status the outcome maps to. Set before `asyncStart`. */
  statusCode?: number
}

export interface SayTraceContext extends TracedContext {
  readonly room: string
  readonly connectionId: string
}

export interface FileTraceContext extends TracedContext {
  readonly connectionId: string
}

export interface HandshakeTraceContext extends TracedContext {
  /** The transport's request path without its query string. */
  readonly path: string
  /** Why it was refused (see `RefusalReason` in gate.ts). Set before `error`. */
  reason?: string
  /** The status of the refusal. Set before `error`. */
  statusCode?: number
}

export const TRACING_CHANNELS = {
  action: 'fastify-actionhero-ws:action',
  say: 'fastify-actionhero-ws:say',
  file: 'fastify-actionhero-ws:file',
  handshake: 'fastify-actionhero-ws:handshake'
} as const

/** The name an action's traces and metrics use for a name no action has. */
export const UNKNOWN_ACTION = '(unknown)'

/** Node's TracingChannel type does not yet declare `hasSubscribers` (added in 20.13); it is checked before use. */
type Channel<Context extends object> = TracingChannel<unknown, Context> & { readonly hasSubscribers?: boolean }

function channel<Context extends object> (name: string): Channel<Context> {
  return diagnosticsChannel.tracingChannel<unknown, Context>(name) as Channel<Context>
}

export const actionChannel = channel<ActionTraceContext>(TRACING_CHANNELS.action)
export const sayChannel = channel<SayTraceContext>(TRACING_CHANNELS.say)
export const fileChannel = channel<FileTraceContext>(TRACING_CHANNELS.file)
export const handshakeChannel = channel<HandshakeTraceContext>(TRACING_CHANNELS.handshake)

/** Whether anything listens on `traced`: when not, the caller builds no context and calls its function directly. */
export function isTraced (traced: Channel<object>): boolean {
  // Before 20.13 the property is missing: then tracing is on, which is correct, only slower.
  return traced.hasSubscribers !== false
}

/**
 * Runs `run` traced on `traced` with `context`. `settle` reads the outcome off the result and sets the
 * context's `outcome` (and `error` when it failed); a throw or a rejection is an `error` outcome (a
 * `RoomError`, the protocol's answer to a room request it refuses, is `refused`). The
 * result is returned as `run` gave it: a value stays synchronous.
 */
export function trace<Context extends TracedContext, Result> (
  traced: Channel<Context>,
  context: Context,
  run: () => Result,
  settle: (result: Awaited<Result>, context: Context) => void
): Result {
  return traced.start.runStores(context, () => {
    let result: Result
    try {
      result = run()
    } catch (error) {
      traced.end.publish(context)
      finish(traced, context, () => { failed(context, error) })
      throw error
    }
    traced.end.publish(context)
    if (!(result instanceof Promise)) {
      finish(traced, context, () => { settle(result as Awaited<Result>, context) })
      return result
    }
    return result.then((value: Awaited<Result>) => {
      finish(traced, context, () => { settle(value, context) })
      return value
    }, (error: unknown) => {
      finish(traced, context, () => { failed(context, error) })
      throw error
    }) as Result
  }, undefined)
}

function failed (context: TracedContext, error: unknown): void {
  context.outcome = error instanceof RoomError ? 'refused' : 'error'
  context.error = error instanceof Error ? error : new Error(String(error))
}

function finish<Context extends TracedContext> (traced: Channel<Context>, context: Context, settle: () => void): void {
  settle()
  if (context.error !== undefined) traced.error.publish(context)
  traced.asyncStart.publish(context)
  traced.asyncEnd.publish(context)
}

/** The outcome of a status code, as `TracedOutcome` defines it. */
export function outcomeOfStatus (statusCode: number): TracedOutcome {
  if (statusCode < 400) return 'ok'
  return statusCode < 500 ? 'refused' : 'error'
}
