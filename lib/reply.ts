/**
 * Replies (PROTOCOL.md 3.2). `reply` is the one builder: every reply a client gets passes through it,
 * so the server's keys (`context`, `messageCount`, `messageId`, `error`) are always set the same way.
 */
import { ERRORS, type MessageId } from '../types/protocol.js'
import type { Connection } from './connection.js'
import type { PublicFile } from './files.js'
import { encodeJson } from './json.js'

const OPEN_BRACE = 0x7b

/** What a reply answers: the connection, and the count and id taken when the request arrived. */
export interface ReplyTarget {
  readonly connection: Connection
  readonly messageCount: number
  readonly messageId: MessageId | undefined
}

/**
 * Sends `body` as the reply to `request`: its fields, then the server's keys, which nothing can
 * override. The server's keys are appended to the encoded body, so a result is never copied for it;
 * a body that does not encode to an object (a boxed primitive, a `toJSON` that returns one) goes
 * under `data`. Returns false when `body` cannot be encoded at all: the client got
 * `resultNotEncodable` instead of a broken frame. A closed connection's reply is not even encoded.
 */
export function reply (request: ReplyTarget, body: object | null, error?: string): boolean {
  // Whatever answers a connection that has left, its reply is not encoded for nobody.
  if (!request.connection.open) return true
  let encoded: string | undefined
  try {
    encoded = body === null ? undefined : encodeJson(body)
  } catch {
    reply(request, null, ERRORS.resultNotEncodable)
    return false
  }
  const { messageId } = request
  let serverKeys = `"context":"response","messageCount":${request.messageCount}`
  if (messageId !== undefined) serverKeys += `,"messageId":${typeof messageId === 'number' ? messageId : encodeJson(messageId)}`
  if (error !== undefined) serverKeys += `,"error":${encodeJson(error)}`
  let frame: string
  if (encoded === undefined || encoded === '{}') frame = `{${serverKeys}}`
  else if (encoded.charCodeAt(0) === OPEN_BRACE) frame = `${encoded.slice(0, -1)},${serverKeys}}`
  else frame = `{"data":${encoded},${serverKeys}}`
  request.connection.write(frame)
  return true
}

export function replyVerb (request: ReplyTarget, data?: unknown): void {
  reply(request, data === undefined ? { status: 'OK' } : { status: 'OK', data })
}

/** A failed verb: `status` and `error` both hold the error string. */
export function replyVerbError (request: ReplyTarget, error: string, data?: unknown): void {
  reply(request, data === undefined ? { status: error } : { status: error, data }, error)
}

/** Returns false when the result could not be encoded (the client got `resultNotEncodable`). */
export function replyAction (request: ReplyTarget, result: unknown): boolean {
  return reply(request, actionResultBody(result))
}

export function replyActionError (request: ReplyTarget, error: string): void {
  reply(request, null, error)
}

/** The reply to `file` (PROTOCOL.md 3.4): the file with `error: null`, or the error string with no content. */
export function replyFile (request: ReplyTarget, file: PublicFile | string): void {
  if (typeof file === 'string') reply(request, { content: null, mime: null, length: 0 }, file)
  else reply(request, { error: null, ...file })
}

/**
 * An action's result as the fields of its reply: a plain object as it is (or a copy without the
 * server's keys, should it have any), anything else under `data`, so that every action has a reply
 * whatever it returns; null for nothing.
 */
export function actionResultBody (result: unknown): object | null {
  if (result === undefined) return null
  if (typeof result !== 'object' || result === null || Array.isArray(result) ||
      typeof (result as { toJSON?: unknown }).toJSON === 'function') {
    return { data: result }
  }
  if (!('context' in result || 'messageCount' in result || 'messageId' in result || 'error' in result)) return result
  const body: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(result)) {
    if (key !== 'context' && key !== 'messageCount' && key !== 'messageId' && key !== 'error') body[key] = value
  }
  return body
}
