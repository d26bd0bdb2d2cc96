/**
 * What the raw ws and Primus servers answer: the part of PROTOCOL.md the bench uses, with the work
 * any server must do per message (decode, build a reply object, encode) and nothing more. Their
 * clients are then the same as the plugin's, and only the server differs.
 */
import type { ActionRequest, ChatMessage, RoomRequest, SayRequest } from '../../types/protocol.js'

export type BenchRequest = ActionRequest | SayRequest | RoomRequest

/** One connection of an echo server. */
export interface EchoPeer {
  readonly id: string
  reply (message: object): void
  /** Sends `message` to every other connection: all of them are in the one room. */
  broadcast (message: ChatMessage): void
}

export function answer (request: BenchRequest, peer: EchoPeer): void {
  const { messageId } = request
  switch (request.event) {
    case 'action':
      peer.reply({ t: request.params.t, text: request.params.text, context: 'response', messageId })
      break
    case 'say':
      peer.broadcast({ context: 'user', room: request.room, from: peer.id, message: request.message, sentAt: Date.now() })
      peer.reply({ context: 'response', status: 'OK', messageId })
      break
    default:
      peer.reply({ context: 'response', status: 'OK', data: true, messageId })
  }
}
