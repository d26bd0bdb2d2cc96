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

/** Reasons a handshake is refused; Primus answers with their `statusCode` and `{ error: message }`. */
export class HandshakeRefusedError extends Error {
  readonly statusCode: number

  constructor (message: string, statusCode: number) {
    super(message)
    this.name = 'HandshakeRefusedError'
    this.statusCode = statusCode
  }
}

/** What a client is told of something user code threw: an Error's message, else the internal error. */
export function errorMessage (error: unknown): string {
  return error instanceof Error ? error.message : ERRORS.internalError
}
