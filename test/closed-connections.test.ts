/**
 * Work for a connection that has left is dropped (issue 18, "the sender pays"): its queued file reads
 * open nothing when their turn comes, and no reply is encoded for it.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { defineAction } from '../lib/index.js'
import { startApp, TestClient, waitFor } from './helpers.js'

async function tempFolder (t: TestContext): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'ahws-closed-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  return folder
}

/**
 * Marks `path` unread: its access time goes back to the epoch, and the next read() of it (not an
 * open(), not a stat()) moves it again, relatime included.
 */
async function markUnread (path: string): Promise<void> {
  await utimes(path, 0, (await stat(path)).mtime)
}

async function wasRead (path: string): Promise<boolean> {
  return (await stat(path)).atimeMs > 0
}

/** Whether reading a file moves its access time here (not on a `noatime` mount). */
async function accessTimesMove (folder: string): Promise<boolean> {
  const probe = join(folder, 'probe')
  await writeFile(probe, 'probe')
  await markUnread(probe)
  await readFile(probe)
  return wasRead(probe)
}

/**
 * Takes every thread of libuv's pool until released: each waits in open() of a FIFO for a writer.
 * Meanwhile the server's file system calls wait in the pool's queue, behind these.
 */
function holdThreadPool (t: TestContext, folder: string): () => Promise<void> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
  const fifos = Array.from({ length: threads }, (_, n) => join(folder, `hold-${n}`))
  execFileSync('mkfifo', fifos)
  const readers = fifos.map((fifo) => open(fifo, 'r'))
  let released: Promise<void> | undefined
  const release = (): Promise<void> => {
    released ??= (async () => {
      // O_RDWR never blocks on a FIFO (Linux) and counts as the writer the readers wait for.
      const writers = fifos.map((fifo) => openSync(fifo, 'r+'))
      const handles: FileHandle[] = await Promise.all(readers)
      await Promise.all(handles.map((handle) => handle.close()))
      for (const writer of writers) closeSync(writer)
    })()
    return released
  }
  t.after(release)
  return release
}

test('file reads queued by a connection that left open nothing at their turn; the next connection\'s read comes', { timeout: 60_000 }, async (t) => {
  const publicDir = await tempFolder(t)
  if (!await accessTimesMove(publicDir)) {
    if (process.env.CI) throw new Error('reading a file does not move its access time here (noatime): this test counts reads by it')
    t.skip('reading a file does not move its access time here (noatime)')
    return
  }
  const count = 200
  await mkdir(join(publicDir, 'queued'))
  const queued = Array.from({ length: count }, (_, n) => join(publicDir, 'queued', `${n}.txt`))
  await Promise.all(queued.map((path, n) => writeFile(path, `file ${n}`)))
  await writeFile(join(publicDir, 'marker.txt'), 'marker')
  await Promise.all([...queued, join(publicDir, 'marker.txt')].map(markUnread))

  const { app, url } = await startApp(t, { publicDir, maxConcurrentFileReads: 1 })
  const leaving = await TestClient.connect(t, url)
  const staying = await TestClient.connect(t, url)
  const { id } = (await leaving.request({ event: 'detailsView' })).data as { id: string }
  const connection = app.actionheroWs.connections.get(id)
  assert.ok(connection !== undefined)

  // No file is read until the pool is released: every request is queued when its connection leaves.
  const release = holdThreadPool(t, await tempFolder(t))
  for (let n = 0; n < count; n++) leaving.socket.write({ event: 'file', file: `queued/${n}.txt`, messageId: n })
  await waitFor(() => connection.pendingRequests === count)
  leaving.end()
  await waitFor(() => !app.actionheroWs.connections.has(id))
  // Queued behind all of them, on the one read at a time: its answer means each of theirs had its turn.
  const marker = staying.request({ event: 'file', file: 'marker.txt' })
  await release()
  assert.equal((await marker).content, 'marker')
  await waitFor(() => connection.pendingRequests === 0)

  assert.equal(await wasRead(join(publicDir, 'marker.txt')), true, 'a read is seen')
  const read = (await Promise.all(queued.map(wasRead))).filter(Boolean).length
  // The first had its turn before the connection left (it was waiting on the pool); none of the others.
  assert.ok(read <= 1, `${read} of the ${count} queued files were read after their connection left`)
})

test('the reply to a connection that left is not encoded', { timeout: 30_000 }, async (t) => {
  let encoded = 0
  let started: () => void = () => {}
  const running = new Promise<void>((resolve) => { started = resolve })
  let finish: () => void = () => {}
  const finished = new Promise<void>((resolve) => { finish = resolve })
  const slow = defineAction({
    name: 'slow',
    run: async () => {
      started()
      await finished
      return { value: { toJSON: () => { encoded++; return 'encoded' } } }
    }
  })
  const { app, url } = await startApp(t, { actions: [slow] })
  const client = await TestClient.connect(t, url)
  const { id } = (await client.request({ event: 'detailsView' })).data as { id: string }
  const connection = app.actionheroWs.connections.get(id)
  assert.ok(connection !== undefined)
  client.socket.write({ event: 'action', params: { action: 'slow' }, messageId: 'slow' })
  await running
  client.end()
  await waitFor(() => !app.actionheroWs.connections.has(id))
  finish()
  // Its request is done once its reply has been dealt with.
  await waitFor(() => connection.pendingRequests === 0)
  assert.equal(encoded, 0)

  const staying = await TestClient.connect(t, url)
  const reply = staying.action('slow')
  await waitFor(() => encoded === 1)
  assert.equal((await reply).value, 'encoded', 'an open connection\'s reply is encoded, once')
  assert.equal(encoded, 1)
})
