/**
 * Ending many sockets at once, within a bound: a client that never answers the closing handshake
 * must not hold `app.close()` for ws's 30 s close timeout.
 */
import type { Socket } from 'node:net'
import type { Connection } from './connection.js'

export interface CloseOptions {
  /** Tell clients not to reconnect (Primus's `primus::server::close`); otherwise they reconnect elsewhere. */
  tellClientsToStop: boolean
  /** How long to wait for the sockets to close before destroying them, in ms. */
  timeout: number
}

export async function closeConnections (connections: Connection[], { tellClientsToStop, timeout }: CloseOptions): Promise<void> {
  const sockets = connections.flatMap((connection) => connection.rawSocket ?? [])
  for (const connection of connections) {
    if (tellClientsToStop) connection.destroy()
    else connection.drop()
  }
  const open = sockets.filter((socket) => !socket.destroyed)
  if (open.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const allClosed = Promise.all(open.map(closed))
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
  await Promise.race([allClosed, deadline])
  clearTimeout(timer)
  for (const socket of open) socket.destroy()
}

function closed (socket: Socket): Promise<void> {
  return socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()))
}
