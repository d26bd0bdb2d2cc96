/**
 * The server side of the bench: every target server is a child process that calls `serveBench`
 * with a function that starts it on a loopback port. The load process then asks it, over IPC, for
 * its CPU time, its memory after a full GC and its event-loop delay; it reads them from `process`
 * itself, so the figures are the server's alone. It exits as soon as the load process goes, so it cannot outlive it.
 */
import type { Server } from 'node:http'
import type { IntervalHistogram } from 'node:perf_hooks'
import { readEventLoopDelay, startEventLoopMonitor, type EventLoopDelay } from '../event-loop.js'

export type { EventLoopDelay }

/** A started target server. */
export interface BenchServer {
  port: number
  /** How many connections the server holds now, to check that every client really arrived. */
  connections: () => number
}

export interface ServerMemory {
  rss: number
  heapUsed: number
  connections: number
}

/** From the load process to a server child. */
export interface ServerRequest {
  id: number
  type: 'cpu' | 'memory' | 'eventLoop'
}

/** From a server child to the load process; `cpu` is user + system time in microseconds. */
export type ServerMessage =
  | { type: 'listening', port: number }
  | { id: number, cpu: number }
  | { id: number, memory: ServerMemory }
  | { id: number, eventLoop: EventLoopDelay }

export function serveBench (start: () => Promise<BenchServer>): void {
  // Once the load process has gone, an answer has no one to go to (and sending it would throw EPIPE).
  const send = (message: ServerMessage): void => { if (process.connected) process.send?.(message) }
  process.on('disconnect', () => process.exit(0))
  let eventLoop: IntervalHistogram | null = null
  start().then((server) => {
    process.on('message', (request: ServerRequest) => {
      if (request.type === 'cpu') {
        const { user, system } = process.cpuUsage()
        send({ id: request.id, cpu: user + system })
      } else if (request.type === 'eventLoop') {
        // The first request starts the monitor (off until then); each one answers for the span since the previous.
        eventLoop ??= startEventLoopMonitor()
        send({ id: request.id, eventLoop: readEventLoopDelay(eventLoop) })
      } else {
        collectGarbage().then(() => {
          const { rss, heapUsed } = process.memoryUsage()
          send({ id: request.id, memory: { rss, heapUsed, connections: server.connections() } })
        }, fail)
      }
    })
    send({ type: 'listening', port: server.port })
  }, fail)
}

/** Listens on a free loopback port and resolves with it. */
export function listenOnLoopback (server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') reject(new Error('the server has no port'))
      else resolve(address.port)
    })
  })
}

/** Two full collections with a turn of the event loop between, so that what the first freed is gone. */
async function collectGarbage (): Promise<void> {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error('bench servers must run with --expose-gc')
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  gc()
}

function fail (error: unknown): never {
  console.error('bench server failed:', error)
  process.exit(1)
}
