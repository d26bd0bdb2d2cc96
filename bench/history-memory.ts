/**
 * Memory per message kept by the memory store's room history (issue 12): 1,000 rooms of `size` 100
 * messages each, as a `say` makes them (a 32-character text), measured as heap growth after GC.
 * Run: node --expose-gc --import tsx bench/history-memory.ts
 */
import { MemoryHistory } from '../lib/rooms/history.js'

const ROOMS = 1000
const PER_ROOM = 100

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const history = new MemoryHistory({ size: PER_ROOM, ttl: 120_000, maxBytes: Infinity })
const rooms = Array.from({ length: ROOMS }, (_, r) => `room${r}`)
gc()
const before = process.memoryUsage().heapUsed
for (const room of rooms) {
  for (let n = 0; n < PER_ROOM; n++) {
    history.append(room, { context: 'user', room, from: 'Xk2n9QpL0aBcDeFgHiJk', message: `message ${n} of ${room}`.padEnd(32, '.'), sentAt: Date.now() })
  }
}
gc()
const bytes = (process.memoryUsage().heapUsed - before) / history.size
console.log(`${history.size.toLocaleString('en-US')} messages kept: ${bytes.toFixed(0)} bytes of heap per message, its 32-character text included`)
