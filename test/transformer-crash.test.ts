/**
 * No request crashes the process, on any transformer (issue 18): the app runs in a child process, so
 * that a crash is seen as its exit rather than taking the test runner down.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { outcome, rawRequest, sendUpgrade, TRANSFORMERS } from './transformer-helpers.js'

const fixture = fileURLToPath(new URL('fixtures/transformer-server.ts', import.meta.url))

/** Upgrades to every path a transformer serves, and a few it does not. */
const UPGRADE_PATHS = [
  '/primus', '/primus/', '/primus/info', '/primus/iframe.html', '/primus/000/abcd/xhr', '/primus/000/abcd/xhr_send', '/primus/000/abcd/websocket',
  '/primus/websocket', '/primus/bind', '/primus/test?VER=8&MODE=init', '/primus/?EIO=4&transport=polling', '/primus/?EIO=4&transport=websocket',
  '/primus/?EIO=3&transport=websocket', '/primus/spec', '/primus/primus.js', '/primus/%zz'
]

for (const transformer of TRANSFORMERS) {
  test(`${transformer}: no request crashes the process`, { timeout: 60_000 }, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, transformer], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (data) => { stderr += String(data) })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.after(async () => {
      child.kill('SIGTERM')
      await exited
    })
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (data) => resolve(Number(String(data).trim())))
      child.once('exit', (code) => reject(new Error(`the fixture exited with ${code}: ${stderr}`)))
    })
    let crashed = false
    exited.then(() => { crashed = true }, () => {})

    const requests = [
      ...UPGRADE_PATHS.map((path) => sendUpgrade(t, port, path)),
      ...UPGRADE_PATHS.map((path) => sendUpgrade(t, port, path, { 'Sec-WebSocket-Version': '8' })),
      ...UPGRADE_PATHS.map((path) => rawRequest(t, port, { path, headers: { 'content-length': '10' }, body: '0123456789' })),
      ...UPGRADE_PATHS.map((path) => rawRequest(t, port, { path, headers: { 'transfer-encoding': 'chunked' }, body: '5\r\nhello\r\n0\r\n\r\n' }))
    ]
    await Promise.all(requests.map((socket) => outcome(socket, 2000)))
    for (const socket of requests) socket.destroy()

    // A marker after them: the process still serves.
    const marker = await fetch(`http://127.0.0.1:${port}/primus/primus.js`).then(async (response) => {
      await response.arrayBuffer()
      return response.status
    }, (error: Error) => error.message)
    assert.equal(crashed, false, `the process exited: ${stderr}`)
    assert.equal(marker, 200)
  })
}
