/**
 * Upgrades and shutdown on every transformer (issue 18): an upgrade no transformer takes is answered or
 * closed, never held; `close()` keeps its bound (at most twice `shutdownTimeout`) with clients connected,
 * long-polls waiting and handshakes in flight, and leaves nothing behind that keeps the process alive.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ActionheroClient } from '../lib/client/node.js'
import { sleep, startApp, waitFor } from './helpers.js'
import { deafWebSocket, openPollingSession, outcome, sendUpgrade, TRANSFORMERS, webSocketPath } from './transformer-helpers.js'

/** Paths under the socket's that some transformer serves over HTTP, or none does. */
const PATHS = ['/primus', '/primus/info', '/primus/bind?VER=8&RID=1', '/primus/000/abcd/xhr', '/primus/nothing/here']

for (const transformer of TRANSFORMERS) {
  test(`${transformer}: every upgrade is answered or closed, never held`, { timeout: 60_000 }, async (t) => {
    const { port } = await startApp(t, { server: { transformer } })
    const sockets = PATHS.flatMap((path) => Array.from({ length: 40 }, () => sendUpgrade(t, port, path)))
    const outcomes = await Promise.all(sockets.map((socket) => outcome(socket, 5000)))
    for (const socket of sockets) socket.destroy()
    const held = outcomes.filter((result) => result === 'held').length
    assert.equal(held, 0, `${held} of ${sockets.length} upgrades held: ${[...new Set(outcomes)].join(', ')}`)
  })

  test(`${transformer}: close() takes at most twice shutdownTimeout with clients connected`, { timeout: 60_000 }, async (t) => {
    const shutdownTimeout = 1000
    const { app, url, port } = await startApp(t, { shutdownTimeout, server: { transformer } })
    const clients = Array.from({ length: 3 }, () => new ActionheroClient({ url, Primus: app.actionheroWs.primus.Socket }))
    t.after(() => { for (const client of clients) client.disconnect() })
    await Promise.all(clients.map((client) => client.connect()))
    let expected = clients.length
    if (transformer === 'engine.io' || transformer === 'sockjs' || transformer === 'browserchannel') {
      await openPollingSession(url, transformer)
      expected++
    }
    const sockets: Socket[] = []
    if (transformer !== 'browserchannel') {
      sockets.push(await deafWebSocket(t, port, webSocketPath(transformer)))
      expected++
    }
    await waitFor(() => app.actionheroWs.connections.size === expected)
    // Handshakes in flight, on every path, from clients that read nothing.
    for (const path of PATHS) sockets.push(sendUpgrade(t, port, path))

    try {
      const closing = Date.now()
      const closed = await Promise.race([app.close().then(() => true), sleep(4 * shutdownTimeout).then(() => false)])
      const took = Date.now() - closing
      assert.ok(closed && took <= 2 * shutdownTimeout + 1000, closed ? `close() took ${took} ms` : `close() still running after ${took} ms`)
    } finally {
      // So that a close() that waits on them ends, and the test with it.
      for (const socket of sockets) socket.destroy()
    }
  })
}

const fixture = fileURLToPath(new URL('fixtures/transformer-server.ts', import.meta.url))

for (const transformer of TRANSFORMERS) {
  test(`${transformer}: once closed, nothing of a client gone quiet keeps the process alive`, { timeout: 60_000 }, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, transformer], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    t.after(async () => {
      child.kill('SIGKILL')
      await exited
    })
    const lines: string[] = []
    child.stdout.on('data', (data) => { lines.push(...String(data).trim().split('\n')) })
    await waitFor(() => lines.length > 0, 10_000)
    const port = Number(lines[0])
    const url = `http://127.0.0.1:${port}`
    // Clients that opened their session and went quiet: they never poll again, nor read.
    if (transformer === 'engine.io' || transformer === 'sockjs' || transformer === 'browserchannel') await openPollingSession(url, transformer)
    if (transformer !== 'browserchannel') await deafWebSocket(t, port, webSocketPath(transformer))
    child.kill('SIGUSR2')
    await waitFor(() => lines.includes('closed'), 15_000)
    const closedAt = Date.now()
    // The process's own timers are all that could keep it: 10 s is well past any of the plugin's, and
    // well before a transformer's session timeout (browserchannel's is 30 s).
    const gone = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
    assert.ok(gone, `the process was still alive ${Date.now() - closedAt} ms after close()`)
  })
}
