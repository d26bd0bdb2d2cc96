/**
 * A member that reads at a pace of its own: a raw WebSocket handshake on a TCP socket that the test
 * reads `bytesPerSecond` from, no faster, parsing the server's frames into the messages they carry.
 * What the kernel's buffers take counts as read too, as for any real client.
 */
import { createConnection, type NetConnectOpts, type Socket } from 'node:net'
import type { TestContext } from 'node:test'

type Message = Record<string, unknown>

export class PacedReader {
  /** Every JSON message read so far, in order (Primus's own strings, such as its pings, are left out). */
  readonly messages: Message[] = []
  readonly socket: Socket
  #pending = Buffer.alloc(0)
  #timer: NodeJS.Timeout | null = null
  #closed = false

  private constructor (socket: Socket) {
    this.socket = socket
    socket.once('close', () => { this.#closed = true })
  }

  /** Connects to the app at `port` and reads `bytesPerSecond` from then on, in fifty steps a second. */
  static async connect (t: TestContext, port: number, bytesPerSecond: number): Promise<PacedReader> {
    // A step may take more than the stream's default buffer (16 KiB) holds; Node.js takes the option, its types do not list it.
    const socket = createConnection({ port, host: '127.0.0.1', readableHighWaterMark: 1024 * 1024 } as unknown as NetConnectOpts)
    const reader = new PacedReader(socket)
    // A test closes it itself before it ends: the app's close, added before, would wait for it to read.
    t.after(() => reader.close())
    socket.write(`GET /primus?_primuscb=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    const head = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
    socket.pause()
    const end = head.indexOf('\r\n\r\n')
    reader.#parse(head.subarray(end + 4))
    const step = Math.max(1, Math.floor(bytesPerSecond / 50))
    reader.#timer = setInterval(() => reader.#read(step), 20)
    return reader
  }

  /** True while the server has not closed the socket. */
  get open (): boolean {
    return !this.#closed
  }

  /** Sends a text frame (masked, as a client must; with a zero mask, so the payload reads as is). */
  send (message: Message): void {
    const payload = Buffer.from(JSON.stringify(message))
    const length = payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
    this.socket.write(Buffer.concat([length, Buffer.alloc(4), payload]))
  }

  close (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.socket.destroy()
  }

  #read (budget: number): void {
    let left = budget
    while (left > 0) {
      const chunk = this.socket.read() as Buffer | null
      if (chunk === null) break
      // What is over the budget goes back, for the next step.
      if (chunk.length > left) this.socket.unshift(chunk.subarray(left))
      this.#parse(chunk.subarray(0, left))
      left -= Math.min(left, chunk.length)
    }
  }

  /** Server frames are unmasked and, here, never fragmented. */
  #parse (bytes: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, bytes])
    for (;;) {
      const frame = this.#pending
      if (frame.length < 2) return
      let length = frame[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (frame.length < 4) return
        length = frame.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (frame.length < 10) return
        length = Number(frame.readBigUInt64BE(2))
        offset = 10
      }
      if (frame.length < offset + length) return
      const opcode = frame[0]! & 0x0f
      const payload = frame.subarray(offset, offset + length)
      this.#pending = frame.subarray(offset + length)
      if (opcode !== 1) continue
      const decoded: unknown = JSON.parse(String(payload))
      if (typeof decoded === 'object' && decoded !== null) this.messages.push(decoded as Message)
    }
  }
}
