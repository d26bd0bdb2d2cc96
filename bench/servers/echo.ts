/**
 * What the raw ws and Primus servers answer: the part of PROTOCOL.md the bench uses, with the work
 * any server must do per message (decode, build a reply object, encode) and nothing more. Their
 * clients are then the same as the plugin's, and only the server differs. Rooms are the bench's own
 * small fan-out: a set of members per room, joined with `roomAdd`.
 */
import type { ActionRequest, ChatMessage, RoomRequest, SayRequest } from '../../types/protocol.js'

export type BenchRequest = ActionRequest | SayRequest | RoomRequest

/** One connection of an echo server. */
export interface EchoPeer {
  readonly id: string
  reply (message: object): void
  /** Sends `message` to `members` (the others of its room): encoded once or per member, as the library does. */
  broadcast (message: ChatMessage, members: Iterable<this>): void
}

/** The members of each room. A peer leaves every room when its connection closes, so the sets hold open connections only. */
export class EchoRooms<Peer extends EchoPeer> {
  readonly #members = new Map<string, Set<Peer>>()
  readonly #roomsOf = new Map<Peer, Set<string>>()

  join (room: string, peer: Peer): void {
    let members = this.#members.get(room)
    if (members === undefined) this.#members.set(room, members = new Set())
    members.add(peer)
    let rooms = this.#roomsOf.get(peer)
    if (rooms === undefined) this.#roomsOf.set(peer, rooms = new Set())
    rooms.add(room)
  }

  leaveAll (peer: Peer): void {
    for (const room of this.#roomsOf.get(peer) ?? []) {
      const members = this.#members.get(room)
      members?.delete(peer)
      if (members?.size === 0) this.#members.delete(room)
    }
    this.#roomsOf.delete(peer)
  }

  /** The members of `room` but `peer`. */
  * others (room: string, peer: Peer): Generator<Peer> {
    for (const member of this.#members.get(room) ?? []) if (member !== peer) yield member
  }

  answer (request: BenchRequest, peer: Peer): void {
    const { messageId } = request
    switch (request.event) {
      case 'action':
        peer.reply({ t: request.params.t, text: request.params.text, context: 'response', messageId })
        break
      case 'say':
        peer.broadcast({ context: 'user', room: request.room, from: peer.id, message: request.message, sentAt: Date.now() }, this.others(request.room, peer))
        peer.reply({ context: 'response', status: 'OK', messageId })
        break
      case 'roomAdd':
        this.join(request.room, peer)
        peer.reply({ context: 'response', status: 'OK', data: true, messageId })
        break
      default:
        peer.reply({ context: 'response', status: 'OK', data: true, messageId })
    }
  }
}
