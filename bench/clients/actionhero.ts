/**
 * The client side of PROTOCOL.md that the bench needs, over any socket that carries JSON objects.
 * The raw ws, Primus and plugin targets all speak it, so that between them only the server differs.
 */
import { ECHO_TEXT, type BenchClient, type ClientHandlers, type ConnectClient } from './client.js'

type Message = Record<string, unknown>

/** A connection that sends and receives JSON objects. */
export interface JsonSocket {
  send (message: object): void
  close (): void
}

/** Opens a `JsonSocket` to `url` that hands every decoded message to `receive`; resolves once open. */
export type OpenJsonSocket = (url: string, receive: (message: Message) => void) => Promise<JsonSocket>

export function actionheroClient (open: OpenJsonSocket): ConnectClient {
  return async (url, handlers) => {
    const client = new ActionheroProtocolClient(handlers)
    client.socket = await open(url, (message) => client.receive(message))
    return client
  }
}

class ActionheroProtocolClient implements BenchClient {
  socket: JsonSocket | null = null
  readonly #handlers: ClientHandlers
  #nextMessageId = 0
  /** The room request (`roomAdd`, `roomLeave`) waiting for its reply. */
  #joining: { messageId: number, settle: (error?: Error) => void } | null = null

  constructor (handlers: ClientHandlers) {
    this.#handlers = handlers
  }

  echo (sentAt: number): void {
    this.socket?.send({ event: 'action', params: { action: 'echo', t: sentAt, text: ECHO_TEXT }, messageId: ++this.#nextMessageId })
  }

  join (room: string): Promise<void> {
    // No presence list: the bench's 5,000 members would each be sent one as large as the room.
    return this.#roomRequest('roomAdd', room, { presence: false })
  }

  leave (room: string): Promise<void> {
    return this.#roomRequest('roomLeave', room, {})
  }

  #roomRequest (event: 'roomAdd' | 'roomLeave', room: string, fields: object): Promise<void> {
    return new Promise((resolve, reject) => {
      const messageId = ++this.#nextMessageId
      this.#joining = { messageId, settle: (error) => error === undefined ? resolve() : reject(new Error(`${event}: ${error.message}`)) }
      this.socket?.send({ event, room, ...fields, messageId })
    })
  }

  say (room: string, message: string): void {
    this.socket?.send({ event: 'say', room, message, messageId: ++this.#nextMessageId })
  }

  close (): void {
    this.socket?.close()
  }

  /** Routes one server message. An error reply is a broken bench: it throws, and the job fails with it. */
  receive (message: Message): void {
    if (message.context === 'user') {
      this.#handlers.onSay?.(message.message as string)
    } else if (message.context === 'presence') {
      this.#handlers.onPresence?.(message.event as string, message.key as string)
    } else if (message.context === 'response') {
      const error = typeof message.error === 'string' ? new Error(`the server answered "${message.error}"`) : undefined
      const joining = this.#joining
      if (joining !== null && joining.messageId === message.messageId) {
        this.#joining = null
        joining.settle(error)
      } else if (error !== undefined) {
        throw error
      } else if (typeof message.t === 'number') {
        this.#handlers.onEcho?.(message.t, this)
      }
    }
  }
}
