/**
 * Ending many connections at once, within a bound: a client that never answers the closing handshake
 * must not hold `app.close()` for ws's 30 s close timeout, and a long-polling session whose client
 * never comes back for its goodbye must not keep its timers (and the process) alive for its own.
 */
import type { Socket } from 'node:net'
import type { Connection } from './connection.js'

export interface CloseOptions {
  /** Tell clients not to reconnect (Primus's `primus::server::close`); otherwise they reconnect elsewhere. */
  tellClientsToStop: boolean
  /** How long to wait for the sockets to close before destroying them, in ms. */
  timeout: number
}

/**
 * How long a long-polling session that outlives its connection's end (browserchannel's) is given to
 * hand its goodbye to a client that polls, before it is cut: its own wait is 30 s, and a client that
 * heard the goodbye never tells it so.
 */
const SESSION_GRACE = 1000

export async function closeConnections (connections: Connection[], { tellClientsToStop, timeout }: CloseOptions): Promise<void> {
  const sockets = connections.flatMap((connection) => connection.rawSocket ?? []).filter((socket) => !socket.destroyed)
  const lingering = connections.filter((connection) => connection.lingers)
  for (const connection of connections) {
    if (tellClientsToStop) connection.destroy()
    else connection.drop()
  }
  await Promise.all([closeSockets(sockets, timeout), cutSessions(lingering, Math.min(timeout, SESSION_GRACE))])
}

/** Waits for `sockets` to close, at most `timeout` ms, then destroys them. */
async function closeSockets (sockets: Socket[], timeout: number): Promise<void> {
  if (sockets.length === 0) return
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
  await Promise.race([Promise.all(sockets.map(socketClosed)), deadline])
  clearTimeout(timer)
  for (const socket of sockets) socket.destroy()
}

/** Cuts the sessions of `connections` after `grace` ms. */
async function cutSessions (connections: Connection[], grace: number): Promise<void> {
  if (connections.length === 0) return
  await new Promise((resolve) => setTimeout(resolve, grace))
  for (const connection of connections) connection.terminate()
}

function socketClosed (socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()))
}
