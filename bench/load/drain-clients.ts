/**
 * A share of `npm run bench:drain`'s clients, in a process of their own: with every client in one
 * process, that process's busy event loop fires the clients' reconnect timers in clumps, and the
 * storm the nodes see is the load process's, not the clients'. The parent (bench/drain.ts) drives it
 * over IPC, one request at a time, each answered once:
 *
 *   { start: { url, reconnect, count, room } }  -> { ready: true } once every client is in the room
 *   'status'                                    -> { status: DrainClientsStatus }
 *   { complete: lastOffset }                    -> { complete: n }, the clients that heard every offset
 *                                                  from 1 to lastOffset once, in order, and recovered
 *                                                  every rejoin
 *   'stop'                                      -> every client disconnected, then the process exits
 */
import { ActionheroClient, type ChatMessage, type ClientOptions } from '../../lib/client/node.js'

export interface DrainClientsStart {
  url: string
  reconnect: ClientOptions['reconnect']
  count: number
  room: string
}

export interface DrainClientsStatus {
  clients: number
  connected: number
  /** Clients by state, for a timeout's message. */
  states: Record<string, number>
  /** Rooms rejoined after a reconnect, so far. */
  rejoins: number
  /** Clients that heard the room's message `end`. */
  heardEnd: number
  /** The highest offset any client heard. */
  lastOffset: number
}

export type DrainClientsRequest = { start: DrainClientsStart } | 'status' | { complete: number } | 'stop'

interface Listener {
  client: ActionheroClient
  heard: ChatMessage[]
  recoveries: boolean[]
}

const listeners: Listener[] = []
let room = ''

async function start ({ url, reconnect, count, room: name }: DrainClientsStart): Promise<void> {
  room = name
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (): Listener => ({
      client: new ActionheroClient({ url, reconnect, timeout: 60_000 }), heard: [], recoveries: []
    }))
    for (const listener of batch) {
      listener.client.on('say', (message: ChatMessage) => listener.heard.push(message))
      listener.client.on('recovered', ({ recovered }) => listener.recoveries.push(recovered))
    }
    await Promise.all(batch.map(async ({ client }) => {
      await client.connect()
      const joined = await client.roomAdd(room)
      if (joined.data !== true) throw new Error(`roomAdd: ${joined.error ?? 'refused'}`)
    }))
    listeners.push(...batch)
  }
}

function status (): DrainClientsStatus {
  const states: Record<string, number> = {}
  let rejoins = 0
  let heardEnd = 0
  let lastOffset = 0
  for (const { client, heard, recoveries } of listeners) {
    states[client.state] = (states[client.state] ?? 0) + 1
    rejoins += recoveries.length
    if (heard.some((message) => message.message === 'end')) heardEnd++
    lastOffset = Math.max(lastOffset, heard.at(-1)?.offset ?? 0)
  }
  return { clients: listeners.length, connected: states.connected ?? 0, states, rejoins, heardEnd, lastOffset }
}

function complete (lastOffset: number): number {
  return listeners.filter(({ client, heard, recoveries }) => heard.length === lastOffset &&
    heard.every((message, i) => message.offset === i + 1) && client.rooms.includes(room) && recoveries.every(Boolean)).length
}

function answer (message: object): void {
  process.send?.(message)
}

process.on('message', (request: DrainClientsRequest) => {
  if (request === 'status') return answer({ status: status() })
  if (request === 'stop') {
    for (const { client } of listeners) client.disconnect()
    process.disconnect()
    return
  }
  if ('complete' in request) return answer({ complete: complete(request.complete) })
  start(request.start).then(() => answer({ ready: true }), (error: Error) => answer({ error: error.message }))
})
