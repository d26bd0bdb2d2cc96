/**
 * Replies (PROTOCOL.md 3.2). `reply` is the one builder: every reply a client gets passes through it,
 * so the server's keys (`context`, `messageCount`, `messageId`, `error`) are always set the same way.
 */
import type { MessageId } from '../types/protocol.js'
import type { Connection } from './connection.js'
import type { PublicFile } from './files.js'

/** What a reply answers: the connection, and the count and id taken when the request arrived. */
export interface ReplyTarget {
  readonly connection: Connection
  readonly messageCount: number
  readonly messageId: MessageId | undefined
}

const SERVER_KEYS = new Set(['context', 'messageCount', 'messageId', 'error'])

/** Sends `body` as the reply to `request`, with the server's keys set last so nothing can override them. */
export function reply (request: ReplyTarget, body: Record<string, unknown>, error?: string): void {
  body.context = 'response'
  body.messageCount = request.messageCount
  if (request.messageId !== undefined) body.messageId = request.messageId
  if (error !== undefined) body.error = error
  request.connection.write(body, JSON.stringify(body))
}

export function replyVerb (request: ReplyTarget, data?: unknown): void {
  reply(request, data === undefined ? { status: 'OK' } : { status: 'OK', data })
}

/** A failed verb: `status` and `error` both hold the error string. */
export function replyVerbError (request: ReplyTarget, error: string, data?: unknown): void {
  reply(request, data === undefined ? { status: error } : { status: error, data }, error)
}

export function replyAction (request: ReplyTarget, result: unknown): void {
  reply(request, actionResultBody(result))
}

export function replyActionError (request: ReplyTarget, error: string): void {
  reply(request, {}, error)
}

/** The reply to `file` (PROTOCOL.md 3.4): the file with `error: null`, or the error string with no content. */
export function replyFile (request: ReplyTarget, file: PublicFile | string): void {
  if (typeof file === 'string') reply(request, { content: null, mime: null, length: 0 }, file)
  else reply(request, { error: null, ...file })
}

/**
 * An action's result as the fields of its reply: a plain object's own fields (but the server's keys),
 * anything else under `data`, so that every action has a reply whatever it returns.
 */
export function actionResultBody (result: unknown): Record<string, unknown> {
  if (result === undefined) return {}
  if (typeof result !== 'object' || result === null || Array.isArray(result) ||
      typeof (result as { toJSON?: unknown }).toJSON === 'function') {
    return { data: result }
  }
  const body: Record<string, unknown> = {}
  for (const key of Object.keys(result)) {
    if (!SERVER_KEYS.has(key)) body[key] = (result as Record<string, unknown>)[key]
  }
  return body
}
