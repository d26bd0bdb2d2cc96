/**
 * Raw clients of every transformer, for the tests that act as an attacker would (test/transformer-*.test.ts):
 * each speaks its transformer's wire protocol by hand, so that it can send what a real client never
 * sends (bodies too large, messages over `maxLength`) and stop reading when a real one would not.
 */
import { createConnection, type Socket } from 'node:net'
import type { TestContext } from 'node:test'

/** Every transformer the plugin supports. */
export const TRANSFORMERS = ['websockets', 'engine.io', 'sockjs', 'faye', 'browserchannel'] as const
export type TransformerName = typeof TRANSFORMERS[number]

/** The transformers that carry messages in HTTP request bodies (long-polling). */
export const POLLING_TRANSFORMERS = ['engine.io', 'sockjs', 'browserchannel'] as const

const WEBSOCKET_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** A TCP connection to `port`, destroyed when the test ends. */
export function connectTcp (t: TestContext, port: number): Socket {
  const socket = createConnection({ port, host: '127.0.0.1' })
  t.after(() => socket.destroy())
  socket.on('error', () => {})
  return socket
}

/** Writes a WebSocket upgrade request for `path` on a fresh TCP connection. */
export function sendUpgrade (t: TestContext, port: number, path: string, headers: Record<string, string> = {}): Socket {
  const socket = connectTcp(t, port)
  const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${WEBSOCKET_KEY}`, 'Sec-WebSocket-Version: 13', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  return socket
}

/**
 * What became of a request on `socket` within `timeout`: the first line of the answer (`HTTP/1.1 101
 * Switching Protocols`...), `closed` when the server closed it without an answer, or `held` when neither
 * happened.
 */
export function outcome (socket: Socket, timeout: number): Promise<string> {
  return new Promise((resolve) => {
    let received = ''
    const done = (result: string): void => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('close', onClose)
      resolve(result)
    }
    const onData = (data: Buffer): void => {
      received += data.toString('latin1')
      const line = received.indexOf('\r\n')
      if (line !== -1) done(received.slice(0, line))
    }
    const onClose = (): void => done(received === '' ? 'closed' : received.split('\r\n')[0] ?? 'closed')
    const timer = setTimeout(() => done('held'), timeout)
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}

/** A WebSocket upgrade whose answer was read (the 101), after which the socket is never read again. */
export async function deafWebSocket (t: TestContext, port: number, path: string): Promise<Socket> {
  const socket = sendUpgrade(t, port, path)
  const answer = await outcome(socket, 10_000)
  if (!answer.includes(' 101 ')) throw new Error(`the upgrade to ${path} was answered ${answer}`)
  socket.pause()
  return socket
}

/** A client's text frame: masked, as a client must send it (with a zero mask, so the payload reads as is). */
export function clientFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  const header = payload.length < 126
    ? Buffer.from([0x81, 0x80 | payload.length])
    : payload.length < 65536
      ? Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
      : Buffer.concat([Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0]), Buffer.from([payload.length >>> 24, (payload.length >> 16) & 0xff, (payload.length >> 8) & 0xff, payload.length & 0xff])])
  return Buffer.concat([header, Buffer.from([0, 0, 0, 0]), payload])
}

/** The WebSocket path of each transformer's server, as its client asks for it. */
export function webSocketPath (transformer: 'websockets' | 'faye' | 'engine.io' | 'sockjs', session = 'abcdefgh'): string {
  switch (transformer) {
    case 'engine.io': return '/primus/?EIO=4&transport=websocket'
    case 'sockjs': return `/primus/000/${session}/websocket`
    default: return '/primus?_primuscb=x'
  }
}

/**
 * An HTTP request on a fresh connection, written by hand so that the body may be announced and not
 * sent, or sent chunked; resolves with the status line once the server answers.
 */
export function rawRequest (t: TestContext, port: number, { method = 'POST', path, headers = {}, body = '' }: {
  method?: string, path: string, headers?: Record<string, string>, body?: string
}): Socket {
  const socket = connectTcp(t, port)
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)]
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`)
  return socket
}

/** A long-polling session opened by hand, to send bodies a real client would not. */
export interface PollingSession {
  /** The path and headers of a request that carries `body` (as the transformer's client encodes it) to the server. */
  sendRequest (messages: string[]): { path: string, headers: Record<string, string>, body: string }
  /** Sends messages, as one body, and resolves with the answer's status. */
  send (messages: string[]): Promise<number>
  /** Polls until the server has nothing more waiting for this session (engine.io and sockjs). */
  poll (): Promise<void>
}

/** Opens a session of a long-polling transformer and reads its opening answer; then never polls again. */
export async function openPollingSession (url: string, transformer: typeof POLLING_TRANSFORMERS[number]): Promise<PollingSession> {
  const session = Math.random().toString(36).slice(2, 10)
  let sendRequest: PollingSession['sendRequest']
  /** One poll: resolves with what it carried. */
  let pollOnce = async (): Promise<string> => { throw new Error(`no polling for ${transformer} here`) }
  switch (transformer) {
    case 'engine.io': {
      const opened = await (await fetch(`${url}/primus/?EIO=4&transport=polling`)).text()
      const sid = (JSON.parse(opened.slice(1)) as { sid: string }).sid
      pollOnce = async () => await (await fetch(`${url}/primus/?EIO=4&transport=polling&sid=${sid}`)).text()
      sendRequest = (messages) => ({
        path: `/primus/?EIO=4&transport=polling&sid=${sid}`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: messages.map((message) => `4${message}`).join('\x1e')
      })
      break
    }
    case 'sockjs': {
      const opened = await (await fetch(`${url}/primus/000/${session}/xhr`, { method: 'POST' })).text()
      if (opened !== 'o\n') throw new Error(`sockjs answered ${opened}`)
      pollOnce = async () => await (await fetch(`${url}/primus/000/${session}/xhr`, { method: 'POST' })).text()
      sendRequest = (messages) => ({ path: `/primus/000/${session}/xhr_send`, headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: JSON.stringify(messages) })
      break
    }
    case 'browserchannel': {
      const opened = await (await fetch(`${url}/primus/bind?VER=8&RID=1000&t=1`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'count=0'
      })).text()
      const sid = /"c","([^"]+)"/.exec(opened)?.[1]
      if (sid === undefined) throw new Error(`browserchannel answered ${opened}`)
      let rid = 1001
      let offset = 0
      sendRequest = (messages) => {
        const maps = messages.map((message, index) => `req${index}_JSON=${encodeURIComponent(JSON.stringify(message))}`)
        const body = [`count=${messages.length}`, `ofs=${offset}`, ...maps].join('&')
        offset += messages.length
        return { path: `/primus/bind?VER=8&SID=${sid}&RID=${rid++}&AID=0&t=1`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }
      }
      break
    }
  }
  return {
    sendRequest,
    // A poll that carries less than a message of the tests' is the last one with something queued.
    poll: async () => { while ((await pollOnce().catch(() => '')).length > 1024); },
    send: async (messages) => {
      const { path, headers, body } = sendRequest(messages)
      const response = await fetch(`${url}${path}`, { method: 'POST', headers, body })
      await response.arrayBuffer()
      return response.status
    }
  }
}
