/**
 * Ending many connections within a bound, in batches: a client that never answers the closing
 * handshake must not hold `app.close()` for ws's 30 s close timeout, a long-polling session whose
 * client never comes back for its goodbye must not keep its timers (and the process) alive for its
 * own, and the clients told to reconnect must not all reach the other nodes in the same second.
 */
import type { Socket } from 'node:net'
import type { Connection } from './connection.js'
import type { DrainOptions } from './options.js'

export interface CloseOptions {
  /** Tell clients not to reconnect (Primus's `primus::server::close`); otherwise they reconnect elsewhere. */
  tellClientsToStop: boolean
  /** The whole shutdown of the connections, in ms: sockets still open then are destroyed. */
  timeout: number
  /** Batches for the connections told to reconnect; false: all at once. */
  drain: DrainOptions | false
}

/**
 * How long a long-polling session that outlives its connection's end (browserchannel's) is given to
 * hand its goodbye to a client that polls, before it is cut: its own wait is 30 s, and a client that
 * heard the goodbye never tells it so.
 */
const SESSION_GRACE = 1000

/**
 * Ends `connections`: clients told to stop all at once (none comes back), clients told to reconnect in
 * batches of `drain.batchSize` every `drain.intervalMs`. The batches stop at half of `timeout`, and
 * whatever is left then ends together, so that the last sockets still have the other half to close.
 */
export async function closeConnections (connections: Connection[], { tellClientsToStop, timeout, drain }: CloseOptions): Promise<void> {
  const start = Date.now()
  const deadline = start + timeout
  const lastBatchBy = start + timeout / 2
  const batchSize = tellClientsToStop || drain === false ? connections.length : drain.batchSize
  const closing: Array<Promise<void>> = []
  for (let from = 0; from < connections.length;) {
    if (from > 0 && drain !== false) await sleep(Math.min(drain.intervalMs, Math.max(0, lastBatchBy - Date.now())))
    const to = Date.now() >= lastBatchBy ? connections.length : from + batchSize
    closing.push(endBatch(connections.slice(from, to), tellClientsToStop, deadline))
    from = to
  }
  await Promise.all(closing)
}

/** Ends `batch` and waits for its sockets to close, at most until `deadline`. */
async function endBatch (batch: Connection[], tellClientsToStop: boolean, deadline: number): Promise<void> {
  // A connection that closed by itself while it waited for its batch has nothing left to end.
  const open = batch.filter((connection) => connection.open)
  const sockets = open.flatMap((connection) => connection.rawSocket ?? []).filter((socket) => !socket.destroyed)
  const lingering = open.filter((connection) => connection.lingers)
  for (const connection of open) {
    if (tellClientsToStop) connection.destroy()
    else connection.drop()
  }
  const left = Math.max(0, deadline - Date.now())
  await Promise.all([closeSockets(sockets, left), cutSessions(lingering, Math.min(left, SESSION_GRACE))])
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
  await sleep(grace)
  for (const connection of connections) connection.terminate()
}

function socketClosed (socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
