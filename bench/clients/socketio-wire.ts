/**
 * A lean Socket.IO 4 client for the chat scenario: Engine.IO 4 and Socket.IO 5's text packets written
 * by hand over a raw `ws` socket, so that 10,000 members cost the load process what the other targets'
 * clients cost (socket.io-client keeps a Manager, an Engine.IO socket and emitters per connection).
 * It answers the server's pings as socket.io-client would. Packets: `0{...}` open, `40` connect to "/",
 * `2`/`3` ping/pong, `42[event, data]` an event, `42<id>[...]` an event that wants an ack, `43<id>[...]`
 * the ack.
 */
import { WebSocket } from 'ws'
import type { BenchClient, ConnectClient, ConnectOptions } from './client.js'
import { ECHO_TEXT } from './client.js'

type Ack = (args: unknown[]) => void

export const socketIoWireClient = ({ localAddress }: ConnectOptions = {}): ConnectClient => (url, handlers) => new Promise((resolve, reject) => {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { localAddress })
  // Acks wait one at a time per kind at most (a join, echoes in flight): bounded by what the scenario sends.
  const acks = new Map<number, Ack>()
  let nextAckId = 0
  const emit = (args: unknown[], ack?: Ack): void => {
    if (ack === undefined) {
      socket.send(`42${JSON.stringify(args)}`)
      return
    }
    const id = nextAckId++
    acks.set(id, ack)
    socket.send(`42${id}${JSON.stringify(args)}`)
  }
  const client: BenchClient = {
    echo: (sentAt) => emit(['echo', { t: sentAt, text: ECHO_TEXT }], ([reply]) => handlers.onEcho?.((reply as { t: number }).t, client)),
    join: (room) => new Promise((resolve, reject) => {
      emit(['roomAdd', room], ([joined]) => joined === true ? resolve() : reject(new Error(`the server did not let the client join ${room}`)))
    }),
    say: (room, message) => emit(['say', { room, message }]),
    close: () => socket.close()
  }
  socket.on('message', (data) => {
    const packet = String(data)
    if (packet === '2') {
      socket.send('3')
    } else if (packet.startsWith('42')) {
      const [event, payload] = JSON.parse(packet.slice(2)) as [string, { message: string }]
      if (event === 'say') handlers.onSay?.(payload.message)
    } else if (packet.startsWith('43')) {
      const bracket = packet.indexOf('[')
      const id = Number(packet.slice(2, bracket))
      const ack = acks.get(id)
      acks.delete(id)
      ack?.(JSON.parse(packet.slice(bracket)) as unknown[])
    } else if (packet.startsWith('40')) {
      socket.off('error', reject)
      resolve(client)
    } else if (packet.startsWith('0')) {
      socket.send('40')
    } else if (packet.startsWith('44')) {
      reject(new Error(`the server refused the connection: ${packet.slice(2)}`))
    }
  })
  socket.once('error', reject)
})
