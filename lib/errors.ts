/**
 * The coded errors this plugin throws in server code (bad options, bad definitions, a failed boot).
 * The error strings sent over the wire are a different table: `ERRORS` in types/protocol.ts.
 */
import { createError, type FastifyErrorConstructor } from '@fastify/error'
import { ERRORS } from '../types/protocol.js'

// Written out, so that the declarations name the type, which every module resolution finds.
type CodedError<Code extends string, Args extends unknown[]> = FastifyErrorConstructor<{ code: Code }, Args>

export const InvalidOptionError: CodedError<'FST_AHWS_INVALID_OPTION', [string, string]> = createError(
  'FST_AHWS_INVALID_OPTION', '"%s" option %s', 500, TypeError)

export const InvalidActionError: CodedError<'FST_AHWS_INVALID_ACTION', [string, string]> = createError(
  'FST_AHWS_INVALID_ACTION', 'action "%s" %s', 500, TypeError)

export const DuplicateActionError: CodedError<'FST_AHWS_DUPLICATE_ACTION', [string]> = createError(
  'FST_AHWS_DUPLICATE_ACTION', 'an action named "%s" is already defined', 500)

export const InvalidHookError: CodedError<'FST_AHWS_INVALID_HOOK', [string, string]> = createError(
  'FST_AHWS_INVALID_HOOK', 'hook "%s" %s', 500, TypeError)

export const InvalidMiddlewareError: CodedError<'FST_AHWS_INVALID_MIDDLEWARE', [string, string]> = createError(
  'FST_AHWS_INVALID_MIDDLEWARE', 'chat middleware "%s" %s', 500, TypeError)

export const InvalidMessageError: CodedError<'FST_AHWS_INVALID_MESSAGE', [string]> = createError(
  'FST_AHWS_INVALID_MESSAGE', 'a message for a connection must be a JSON object: %s', 500, TypeError)

/** The browser client could not be written at boot (`clientJsName`), so the boot fails. */
export const ClientGenerationError: CodedError<'FST_AHWS_CLIENT_GENERATION', [string, string]> = createError(
  'FST_AHWS_CLIENT_GENERATION', 'cannot write the browser client %s: %s', 500)

/** A path the plugin serves is routed already, by the app or by another registration of the plugin. */
export const RouteTakenError: CodedError<'FST_AHWS_ROUTE_TAKEN', [string, string]> = createError(
  'FST_AHWS_ROUTE_TAKEN', 'the route %s is already taken (by the app, another plugin or another registration of this one): change the "%s" option', 500)

/** A room operation refused, with its PROTOCOL.md error string (e.g. `room does not exist`). */
export class RoomError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RoomError'
  }
}

/**
 * Whether `error` is a Node.js system error: every one carries a numeric `errno` and its `syscall`
 * (with the `path`, `address` or `port` it concerns), none of which is for a client to read.
 */
export function isSystemError (error: Error): boolean {
  const { errno, syscall } = error as { errno?: unknown, syscall?: unknown }
  return typeof errno === 'number' || typeof syscall === 'string'
}

/**
 * What a client is told of something user code threw (an action, `authorize`, chat middleware): an
 * Error's message, which is the app's to choose, as in ActionHero; the internal error for a system
 * error (its text names files and addresses) and for what is not an Error. The one rule: every path
 * that sends a thrown error's text goes through it, and logs the error itself.
 */
export function errorMessage (error: unknown): string {
  return error instanceof Error && !isSystemError(error) ? error.message : ERRORS.internalError
}

/** An Error's own 4xx/5xx `statusCode` (Fastify's convention), else null; a system error has none of its own. */
export function statusCodeOf (error: unknown): number | null {
  if (!(error instanceof Error) || isSystemError(error)) return null
  const { statusCode } = error as { statusCode?: unknown }
  return typeof statusCode === 'number' && Number.isInteger(statusCode) && statusCode >= 400 && statusCode <= 599 ? statusCode : null
}

/** `disconnect` (on a node or an emitter) given a reason or options it cannot send. */
export const InvalidDisconnectError: CodedError<'FST_AHWS_INVALID_DISCONNECT', [string]> = createError(
  'FST_AHWS_INVALID_DISCONNECT', 'disconnect: %s', 500, TypeError)
