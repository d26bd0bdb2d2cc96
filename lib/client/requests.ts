/**
 * The client's requests, from the moment they are made until they are answered, exactly once: by the
 * reply that carries their `messageId`, by a timeout, or by the connection closing under them.
 * Requests made while the socket is not ready wait here, unsent, in the order they were made.
 */
import { ERRORS, type ClientMessage, type MessageId } from '../../types/protocol.js'

/** A message from the server, as decoded. */
export type Reply = Record<string, unknown>

export type Answer = (reply: Reply) => void

type Write = (message: ClientMessage) => void

interface PendingRequest {
  readonly message: ClientMessage
  readonly answer: Answer
  sent: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The reply the client gives itself when the server's cannot come, shaped as the server's would be. */
export function failureReply (message: ClientMessage, error: string): Reply {
  const reply: Reply = { context: 'response', error }
  if (message.messageId !== undefined) reply.messageId = message.messageId
  if (message.event === 'file') return { ...reply, content: null, mime: null, length: 0 }
  if (message.event !== 'action') reply.status = error
  return reply
}

export class RequestTable {
  readonly #timeout: number
  readonly #pending = new Map<MessageId, PendingRequest>()
  #lastId = 0

  /** `timeout`: how long a request waits for its reply, in ms, from when it was made; 0: for ever. */
  constructor (timeout: number) {
    this.#timeout = timeout
  }

  /** Gives `message` a fresh `messageId`; `write` sends it now, or it waits for `flush` when null. */
  add (message: ClientMessage, answer: Answer, write: Write | null): void {
    const request: PendingRequest = { message: { ...message, messageId: ++this.#lastId }, answer, sent: false, timer: undefined }
    this.#pending.set(this.#lastId, request)
    if (this.#timeout > 0) {
      // A request still waiting in the queue is dropped, never sent late.
      request.timer = setTimeout(() => this.#answer(request, failureReply(request.message, ERRORS.requestTimedOut)), this.#timeout)
    }
    if (write !== null) this.#send(request, write)
  }

  /** Sends the requests that were waiting, in the order they were made. */
  flush (write: Write): void {
    for (const request of this.#pending.values()) if (!request.sent) this.#send(request, write)
  }

  /**
   * Answers the request `reply` is for, at once, so that its callback sees the client as the reply
   * found it (the inbox holds what came after); false for a reply to no waiting request (answered
   * already, or not ours), which is ignored.
   */
  answer (reply: Reply): boolean {
    const request = this.#pending.get(reply.messageId as MessageId)
    if (request === undefined) return false
    this.#settle(request)
    try {
      request.answer(reply)
    } catch (error) {
      // Thrown where it would have been, unhandled, without stopping the messages that follow.
      queueMicrotask(() => { throw error })
    }
    return true
  }

  /** The connection closed: requests sent on it can no longer be answered. */
  failSent (error: string): void {
    for (const request of this.#pending.values()) if (request.sent) this.#answer(request, failureReply(request.message, error))
  }

  /** The client stopped: every request is answered with `error`. */
  failAll (error: string): void {
    for (const request of this.#pending.values()) this.#answer(request, failureReply(request.message, error))
  }

  #send (request: PendingRequest, write: Write): void {
    request.sent = true
    write(request.message)
  }

  /** The client's own answer (a timeout, a closed connection). */
  #answer (request: PendingRequest, reply: Reply): void {
    this.#settle(request)
    // Answers run once the current event is handled, each on its own: the client's state is settled
    // when a callback runs, and a callback that throws cannot keep the others from running.
    queueMicrotask(() => request.answer(reply))
  }

  #settle (request: PendingRequest): void {
    this.#pending.delete(request.message.messageId as MessageId)
    clearTimeout(request.timer)
  }
}
