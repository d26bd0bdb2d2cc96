/**
 * The raw `ws` client: JSON by hand, one `send` per message. It drives the Primus and plugin targets
 * too, on Primus's path and wire format (JSON frames; pings as `"primus::ping::<time>"` strings), so
 * that on this small machine the load process's cost is the same for the three and the rates compare
 * servers, not client libraries.
 */
import { WebSocket } from 'ws'
import type { OpenJsonSocket } from './actionhero.js'
import type { ConnectOptions } from './client.js'

interface WsOptions extends ConnectOptions {
  path?: string
  primus?: boolean
}

/** Opens a ws socket on `path` of the target; `primus` answers Primus's pings as its own client would. */
export function openWs ({ path = '', primus = false, localAddress, cookie }: WsOptions = {}): OpenJsonSocket {
  return (url, receive) => new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}${path}`, { localAddress, headers: cookie === undefined ? undefined : { cookie } })
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as unknown
      if (typeof message === 'string') {
        if (primus && message.startsWith('primus::ping::')) socket.send(JSON.stringify(`primus::pong::${message.slice(14)}`))
        return
      }
      receive(message as Record<string, unknown>)
    })
    socket.once('error', reject)
    socket.once('open', () => {
      socket.off('error', reject)
      resolve({ send: (message) => socket.send(JSON.stringify(message)), close: () => socket.close() })
    })
  })
}
