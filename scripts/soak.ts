/**
 * `npm run soak`: the server under a steady churn of clients for a while (60 s by default;
 * `SOAK_SECONDS=10 npm run soak` for less), in batches: each client connects, joins rooms (in, out,
 * in, sent without waiting), says something, runs an action, reads a file, sends a bad frame, and
 * disconnects, cleanly or abruptly; half-open handshakes are abandoned along the way. At the end the
 * heap, the process's handles and the rooms' members must be back at their baseline (taken after a
 * few warm-up batches); it prints the figures and exits non-zero when they are not.
 * Everything stays on 127.0.0.1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import WebSocket from 'ws'
import actionheroWs from '../lib/index.js'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const CLIENTS_PER_BATCH = Number(process.env.SOAK_CLIENTS ?? 50)
const ABANDONED_PER_BATCH = 5
const WARM_UP_BATCHES = 3
const HEAP_NOISE_MIB = 4
const ROOMS = ['defaultRoom', 'anotherRoom']
const REQUEST_TIMEOUT = 10_000
/** The requests each client makes (see clientLife), besides one bad frame. */
const REQUESTS = 7

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

type Reply = Record<string, unknown>

/** One client's life: every verb once, then a disconnect. Resolves how many replies it got. */
async function clientLife (url: string, n: number): Promise<number> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/primus`)
  const replies = new Map<unknown, Reply>()
  let badFrameAnswered = false
  let allAnswered = (): void => {}
  let timer: NodeJS.Timeout | undefined
  const answered = new Promise<void>((resolve, reject) => {
    allAnswered = resolve
    timer = setTimeout(() => reject(new Error(`client ${n}: ${replies.size} replies in ${REQUEST_TIMEOUT} ms`)), REQUEST_TIMEOUT)
  }).finally(() => clearTimeout(timer))
  socket.on('message', (data) => {
    const reply = JSON.parse(String(data)) as Reply
    if (reply.messageId !== undefined) replies.set(reply.messageId, reply)
    else if (reply.error === 'message must be a JSON object') badFrameAnswered = true
    if (replies.size === REQUESTS && badFrameAnswered) allAnswered()
  })
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
  const room = ROOMS[n % ROOMS.length] as string
  const requests: Reply[] = [
    { event: 'roomAdd', room },
    { event: 'roomLeave', room },
    { event: 'roomAdd', room },
    { event: 'say', room, message: `hello from ${n}` },
    { event: 'action', params: { action: 'add', a: n, b: 1 } },
    { event: 'file', file: 'hello.txt' },
    { event: 'roomView', room }
  ]
  requests.forEach((request, id) => socket.send(JSON.stringify({ ...request, messageId: id })))
  socket.send('this is not JSON')
  await answered
  for (const [id, reply] of replies) {
    if (reply.error !== undefined && reply.error !== null) throw new Error(`client ${n}: request ${String(id)} failed: ${String(reply.error)}`)
  }
  if ((replies.get(4) as { sum?: number }).sum !== n + 1) throw new Error(`client ${n}: the action answered ${JSON.stringify(replies.get(4))}`)
  // Half leave politely, half drop the socket.
  const closed = new Promise((resolve) => socket.once('close', resolve))
  if (n % 2 === 0) socket.close()
  else socket.terminate()
  await closed
  return replies.size + 1
}

/** A handshake that never finishes: half the request, then the socket goes away. */
async function abandonedHandshake (port: number): Promise<void> {
  const socket = createConnection({ port, host: '127.0.0.1' })
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.write(`GET /primus HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n`)
  await new Promise((resolve) => setTimeout(resolve, 5))
  socket.destroy()
}

interface Figures {
  heapMiB: number
  handles: number
  connections: number
  members: number
}

async function main (): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-soak-'))
  await writeFile(join(folder, 'hello.txt'), 'hello')
  const app = Fastify({ logger: false })
  await app.register(actionheroWs, {
    clientJsName: null,
    publicDir: folder,
    rooms: ROOMS,
    actions: [{ name: 'add', inputs: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } }, run: ({ a, b }) => ({ sum: Number(a) + Number(b) }) }]
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on a port')
  const url = `http://127.0.0.1:${address.port}`
  const server = app.actionheroWs

  const measure = async (): Promise<Figures> => {
    // Let closed sockets finish closing, then collect twice (weak references, finalizers).
    const deadline = Date.now() + 10_000
    while (server.connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 200))
    gc()
    gc()
    let members = 0
    for (const room of ROOMS) members += (await server.rooms.view(room)).membersCount
    return {
      heapMiB: process.memoryUsage().heapUsed / 1024 / 1024,
      handles: process.getActiveResourcesInfo().filter((type) => type !== 'TTYWrap' && type !== 'Timeout').length,
      connections: server.connections.size,
      members
    }
  }

  const batch = async (from: number): Promise<number> => {
    const lives = Array.from({ length: CLIENTS_PER_BATCH }, (_, k) => clientLife(url, from + k))
    const abandoned = Array.from({ length: ABANDONED_PER_BATCH }, () => abandonedHandshake(address.port))
    const [replies] = await Promise.all([Promise.all(lives), Promise.all(abandoned)])
    return replies.reduce((sum, count) => sum + count, 0)
  }

  // Warm-up: code compiled and optimised, pools filled.
  for (let n = 0; n < WARM_UP_BATCHES; n++) await batch(n * CLIENTS_PER_BATCH)
  const baseline = await measure()
  const started = Date.now()
  let clients = 0
  let replies = 0
  let batches = 0
  let peakHeapMiB = baseline.heapMiB
  while (Date.now() - started < SECONDS * 1000) {
    replies += await batch(CLIENTS_PER_BATCH * (batches + WARM_UP_BATCHES))
    clients += CLIENTS_PER_BATCH
    batches++
    peakHeapMiB = Math.max(peakHeapMiB, process.memoryUsage().heapUsed / 1024 / 1024)
  }
  const elapsed = (Date.now() - started) / 1000
  const end = await measure()
  await app.close()
  await rm(folder, { recursive: true, force: true })

  const heapGrowth = end.heapMiB - baseline.heapMiB
  const problems: string[] = []
  // The heap wanders by a little whatever the run's length (code caches, pools); a leak of 150 bytes
  // per client would go over this in a 60 s run (~40,000 clients here).
  if (heapGrowth > HEAP_NOISE_MIB) problems.push(`the heap grew by ${heapGrowth.toFixed(1)} MiB (allowed: ${HEAP_NOISE_MIB})`)
  if (end.handles > baseline.handles) problems.push(`${end.handles - baseline.handles} more handles than at the baseline`)
  if (end.members !== 0) problems.push(`${end.members} members left in rooms`)
  if (end.connections !== 0) problems.push(`${end.connections} connections left`)

  const line = (label: string, value: string): void => { process.stdout.write(`${label.padEnd(28)}${value}\n`) }
  line('duration', `${elapsed.toFixed(1)} s, ${batches} batches of ${CLIENTS_PER_BATCH} clients (+${ABANDONED_PER_BATCH} abandoned handshakes each)`)
  line('clients', `${clients} (${(clients / elapsed).toFixed(0)}/s), ${replies} replies (${(replies / elapsed).toFixed(0)}/s)`)
  line('heap (after gc)', `baseline ${baseline.heapMiB.toFixed(1)} MiB, end ${end.heapMiB.toFixed(1)} MiB (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)}), peak ${peakHeapMiB.toFixed(1)} MiB`)
  line('handles', `baseline ${baseline.handles}, end ${end.handles}`)
  line('room members', `baseline ${baseline.members}, end ${end.members}`)
  line('connections', `baseline ${baseline.connections}, end ${end.connections}`)
  if (problems.length > 0) {
    process.stdout.write(`NOT back at baseline: ${problems.join('; ')}\n`)
    process.exitCode = 1
  } else {
    process.stdout.write('back at baseline\n')
  }
}

await main()
