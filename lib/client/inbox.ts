/**
 * The server's messages, handled one at a time in the order they came on the wire. A reply runs its
 * request's callback (or resolves its Promise) at once; the messages behind it wait until the code
 * that follows the reply has run, awaits included (every microtask: the next macrotask), so that
 * state built from a reply never misses or reorders a push that came after it. Pushes between two
 * replies are handled back to back. A wait ends on the next macrotask and there is one per reply to
 * a request of the client's, so the queue holds no more than the server sent in one go.
 */

/** A browser's MessageChannel, as used here (Node.js types its ports otherwise). */
interface BrowserChannel {
  port1: { onmessage: (() => void) | null, close: () => void }
  port2: { postMessage: (message: null) => void }
}

/** Runs `task` once every pending microtask has run: setImmediate in Node.js, a message port in browsers. */
function afterMicrotasks (task: () => void): void {
  if (typeof setImmediate === 'function') {
    setImmediate(task)
    return
  }
  // setTimeout(0) would do, but browsers stretch nested ones to 4 ms; a port's message is not stretched.
  const channel = new (globalThis as unknown as { MessageChannel: new () => BrowserChannel }).MessageChannel()
  channel.port1.onmessage = () => {
    channel.port1.close()
    task()
  }
  channel.port2.postMessage(null)
}

export class Inbox<Message> {
  /** Handles one message; true when it answered a request, whose code must run before the next message. */
  readonly #handle: (message: Message) => boolean
  readonly #queue: Message[] = []
  /** True while the messages wait for a reply's code to run. */
  #waiting = false

  constructor (handle: (message: Message) => boolean) {
    this.#handle = handle
  }

  receive (message: Message): void {
    this.#queue.push(message)
    if (!this.#waiting) this.#drain()
  }

  #drain (): void {
    while (this.#queue.length > 0) {
      const message = this.#queue.shift() as Message
      let answered = true
      try {
        answered = this.#handle(message)
      } finally {
        // Also when nothing else is here yet: a frame of the same read may come before the reply's code
        // runs. A listener that throws stops this turn; what is left is still handled after it, in order.
        if (answered) this.#wait()
      }
      if (answered) return
    }
  }

  #wait (): void {
    this.#waiting = true
    afterMicrotasks(() => {
      this.#waiting = false
      this.#drain()
    })
  }
}
