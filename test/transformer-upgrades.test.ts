/**
 * Upgrades and shutdown on every transformer (issue 18): an upgrade no transformer takes is answered or
 * closed, never held; `close()` keeps its bound (at most twice `shutdownTimeout`) with clients connected,
 * long-polls waiting and handshakes in flight.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test } from 'node:test'
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
