/**
 * `ActionheroClient` (PROTOCOL.md 4): the client of the ActionHero WebSocket server, over a Primus
 * socket. Every request carries a `messageId` and is answered exactly once (see requests.ts). While
 * the socket (re)connects, requests wait; they are sent once the connection is back and has joined
 * its rooms again.
 */
import {
  ERRORS, type ActionDocumentation, type ActionReply, type ChatMessage, type ClientMessage, type ConnectionDetails,
  type FileReply, type HistoryPosition, type PresenceMessage, type PushesSinceFields, type PushMessage, type ReplyFields, type RoomAddFields, type RoomMembers,
  type RoomRecoveredMessage, type ServerMessage, type VerbReply, type WelcomeMessage
} from '../../types/protocol.js'
// Closing with a reason, and credentials that expire (PROTOCOL.md 3.6).
import type { ClosedMessage, RefreshedCredentials } from '../../types/protocol.js'
import type { PrimusClientOptions, PrimusSocket, PrimusSocketConstructor } from '../../types/primus.js'
import { reconnectDelay } from './backoff.js'
import { Emitter } from './emitter.js'
import { actionOverHttp } from './http.js'
import { Inbox } from './inbox.js'
import { PresenceLists, type PresenceMembers } from './presence.js'
import { RequestTable, failureReply, type Answer, type Reply } from './requests.js'

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting' | 'timeout'

export interface ClientOptions extends PrimusClientOptions {
  /** The server's origin. Default: the generated file's `clientUrl`, or the page's origin. */
  url?: string
  /** Where `action` goes over HTTP when there is no socket; `false`: never. Default `/api`. */
  apiPath?: string | false
  /** The Primus client to use. Default: the global `Primus` of the generated file (in Node.js, ws and JSON at `/primus`). */
  Primus?: PrimusSocketConstructor
  /**
   * Supplies fresh credentials when the server asks (its credentials expire): they go to the server's
   * `refresh` option. Without it, the server closes the connection once they expired (`closed`).
   */
  refresh?: () => Record<string, unknown> | Promise<Record<string, unknown>>
}

/**
 * How rejoining a room after a reconnect went, or (`recovered` false only) that the server missed
 * messages of the room while the client stayed connected: false means messages may be missing
 * (reload what you show).
 */
export interface RoomRecovery {
  room: string
  recovered: boolean
}

/** The same for the visitor's pushes (`sendToFingerprint`). */
export interface PushesRecovery {
  recovered: boolean
}

/**
 * Where the client is in a stream (a room's history, or its visitor's pushes): the position it asks
 * from after a reconnect, and the offset of the last message it delivered (a repeat, at or below it,
 * is dropped).
 */
interface StreamPosition extends HistoryPosition {
  heard: number
}

/**
 * A presence room's list changed: a change the server sent (`join`, `leave`, `update`), or the whole
 * list taken from a `roomAdd` reply (`list`), at a join and after every reconnect.
 */
export type PresenceChange = PresenceMessage | { context: 'presence', room: string, event: 'list' }

/** A reconnection attempt that is about to start. */
export interface ReconnectAttempt {
  /** 1 for the first attempt after the connection was lost. */
  attempt: number
  /** In ms. */
  delay: number
}

export interface ClientEvents {
  /** The connection is open, its rooms joined and `details` current. */
  connected: []
  /** The connection was lost (`state` is then `reconnecting`) or closed for good (`disconnected`). */
  disconnected: []
  error: [error: Error]
  /** The connection is back after it was lost, rooms joined again; `connected` follows. */
  reconnect: []
  reconnecting: [attempt: ReconnectAttempt]
  /** Every message from the server. */
  message: [message: ServerMessage]
  alert: [message: PushMessage]
  /** A message whose context is not one the client knows. */
  api: [message: PushMessage]
  welcome: [message: WelcomeMessage]
  /** A chat message of a room the client is in (after a reconnect, those it missed come first, once each). */
  say: [message: ChatMessage]
  /**
   * After a reconnect, per room the client rejoined: whether every message it missed was delivered;
   * and `recovered: false` whenever the server tells that messages of a room may be missing.
   */
  recovered: [recovery: RoomRecovery]
  /** The same for the visitor's pushes, when the server keeps them (history on). */
  pushesRecovered: [recovery: PushesRecovery]
  /** Who is in a presence room changed; `client.presence(room)` is current when it fires. */
  presence: [change: PresenceChange]
  /** The connection could not be opened in `options.timeout` ms. */
  timeout: []
  /**
   * The server closed the connection and said why (a kick, credentials that expired or were refused);
   * with `reconnect: false` the client does not come back (`disconnected` follows).
   */
  closed: [closure: Omit<ClosedMessage, 'context'>]
}

/** A reply as the client hands it over: without `messageCount` when the client had to answer itself. */
type Received<Wire extends ReplyFields> = Omit<Wire, 'messageCount'> & { messageCount?: number }
export type ActionResponse<Result extends object = Record<string, unknown>> = Partial<Result> & Received<ActionReply<Record<never, never>>>
export type VerbResponse<Data = unknown> = Received<VerbReply<Data>>
export type FileResponse = Received<FileReply>
/** The `roomAdd` reply: `data` true or false, and the room's history position when the server keeps one. */
export type RoomAddResponse = VerbResponse<boolean> & RoomAddFields

export type Callback<Response> = (response: Response) => void
export type ErrorFirstCallback<Response> = (error: Error | null, response: Response) => void
/** `details` is the `detailsView` reply (a failed one when the connection could not be made). */
export type ConnectCallback = ErrorFirstCallback<VerbResponse<ConnectionDetails>>

/** `readyState` of an open Primus client socket. */
const PRIMUS_OPEN = 3

/** Primus's default connection timeout, which is also how long a request waits for its reply. */
const DEFAULT_TIMEOUT = 10_000

export class ActionheroClient extends Emitter<ClientEvents> {
  /** The defaults of every client; the generated actionheroClient.js sets them from the server's options. */
  static defaults: ClientOptions = { apiPath: '/api' }

  readonly options: ClientOptions & { url: string }
  state: ClientState = 'disconnected'
  /** The connection's id, from the server. */
  id: string | null = null
  /** The visitor's fingerprint cookie, as the server read it from the handshake. */
  fingerprint: string | null = null
  /** The rooms the client is in, joined again after a reconnect. */
  rooms: string[] = []
  /** The latest `detailsView` data: fetched at every (re)connection. */
  details: ConnectionDetails | null = null
  welcomeMessage: string | null = null

  readonly #requests: RequestTable
  #socket: PrimusSocket | null = null
  /** The socket given to the constructor, used instead of a new one (and opened again after `disconnect()`). */
  readonly #adopted: PrimusSocket | null
  /** Removes this client's listeners from `#socket`. */
  #detach: () => void = () => {}
  /** Counts the socket's openings and closings, so that work for a closed connection stops. */
  #session = 0
  /** Whether the socket has been connected: its next opening is a reconnect. */
  #hasConnected = false
  #lastError: Error | null = null
  #connectCallbacks: ConnectCallback[] = []
  /** Gives up a first connection that has not opened within `options.timeout`. */
  #connectTimer: ReturnType<typeof setTimeout> | undefined
  /** The client's own reconnection (backoff.ts), between a lost connection and the next open. */
  #retry: { attempt: number, timer: ReturnType<typeof setTimeout> | undefined } | null = null
  /** Set while the client stops Primus's own reconnection: the `end` that follows is not the last one. */
  #takingOver = false
  /** Per room, where the client is in its history (when the server keeps one). */
  readonly #positions = new Map<string, StreamPosition>()
  /** Where the client is in its visitor's push stream (when the server keeps one). */
  #pushes: StreamPosition | null = null
  /** Per presence room, who is here (the `roomAdd` reply's list, and the changes since). */
  readonly #presence = new PresenceLists()
  /** The server's messages, handled in the order they came: a reply's code runs before what followed it. */
  readonly #inbox = new Inbox<unknown>((message) => this.#receive(message))

  /**
   * `socket`: a Primus socket of the caller's, open or opening, as ActionHero's own tests passed one. The
   * client takes it over at once (what it already received is gone, the welcome included) and, once it
   * is open, joins its rooms and fetches its details as after `connect()`, which then answers with them.
   */
  constructor (options: ClientOptions = {}, socket?: PrimusSocket) {
    super()
    const merged = { ...ActionheroClient.defaults, ...options }
    const url = merged.url ?? (globalThis as { location?: { origin?: string } }).location?.origin
    if (url === undefined) throw new TypeError('ActionheroClient: options.url is required outside a browser page')
    this.options = { ...merged, url }
    this.#requests = new RequestTable(this.options.timeout ?? DEFAULT_TIMEOUT)
    this.#adopted = socket ?? null
    if (socket !== undefined) this.#follow(socket)
  }

  /** Opens the connection; answers with the `detailsView` reply once connected (at once when already connected). */
  connect (): Promise<VerbResponse<ConnectionDetails>>
  connect (callback: ConnectCallback): void
  connect (callback?: ConnectCallback): Promise<VerbResponse<ConnectionDetails>> | undefined {
    return withErrorFirst<VerbResponse<ConnectionDetails>>(callback, (done) => {
      if (this.state === 'connected') return this.detailsView(done)
      if (this.#socket === null) {
        this.#open()
        this.#giveUpAfter(this.options.timeout ?? DEFAULT_TIMEOUT)
      }
      this.#connectCallbacks.push(done)
    })
  }

  /** Runs an action; inspect `response.error`. Without a socket, it goes over HTTP to `apiPath`. */
  action<Result extends object = Record<string, unknown>> (name: string, params?: Record<string, unknown>): Promise<ActionResponse<Result>>
  action<Result extends object = Record<string, unknown>> (name: string, callback: Callback<ActionResponse<Result>>): void
  action<Result extends object = Record<string, unknown>> (name: string, params: Record<string, unknown> | undefined, callback: Callback<ActionResponse<Result>>): void
  action<Result extends object> (
    name: string,
    paramsOrCallback?: Record<string, unknown> | Callback<ActionResponse<Result>>,
    callback?: Callback<ActionResponse<Result>>
  ): Promise<ActionResponse<Result>> | undefined {
    const params = typeof paramsOrCallback === 'function' ? {} : paramsOrCallback ?? {}
    return withCallback(typeof paramsOrCallback === 'function' ? paramsOrCallback : callback, (done) => {
      const { apiPath, url } = this.options
      if (this.#socket === null && apiPath !== false) {
        actionOverHttp(url, apiPath ?? '/api', name, params).then(done as Answer)
        return
      }
      this.#send({ event: 'action', params: { ...params, action: name } }, done)
    })
  }

  /** Says `message` (a string or any JSON value) to a room the client has joined. */
  say (room: string, message: unknown): Promise<VerbResponse>
  say (room: string, message: unknown, callback: Callback<VerbResponse>): void
  say (room: string, message: unknown, callback?: Callback<VerbResponse>): Promise<VerbResponse> | undefined {
    return withCallback(callback, (done) => this.#send({ event: 'say', room, message }, done))
  }

  /** The connection's details; they also refresh `details`, `id`, `fingerprint` and `rooms`. */
  detailsView (): Promise<VerbResponse<ConnectionDetails>>
  detailsView (callback: ErrorFirstCallback<VerbResponse<ConnectionDetails>>): void
  detailsView (callback?: ErrorFirstCallback<VerbResponse<ConnectionDetails>>): Promise<VerbResponse<ConnectionDetails>> | undefined {
    return withErrorFirst(callback, (done) => this.#send<VerbResponse<ConnectionDetails>>({ event: 'detailsView' }, (reply) => {
      if (reply.error === undefined && reply.data !== undefined) this.#adopt(reply.data)
      done(errorOf(reply), reply)
    }))
  }

  roomView (room: string): Promise<VerbResponse<RoomMembers>>
  roomView (room: string, callback: Callback<VerbResponse<RoomMembers>>): void
  roomView (room: string, callback?: Callback<VerbResponse<RoomMembers>>): Promise<VerbResponse<RoomMembers>> | undefined {
    return withCallback(callback, (done) => this.#send({ event: 'roomView', room }, done))
  }

  /** The last messages of a room the client is in (at most `limit`), oldest first: the conversation so far. */
  roomHistory (room: string, limit?: number): Promise<VerbResponse<ChatMessage[]>>
  roomHistory (room: string, limit: number | undefined, callback: Callback<VerbResponse<ChatMessage[]>>): void
  roomHistory (room: string, limit?: number, callback?: Callback<VerbResponse<ChatMessage[]>>): Promise<VerbResponse<ChatMessage[]>> | undefined {
    return withCallback(callback, (done) => this.#send({ event: 'roomHistory', room, limit }, done))
  }

  /** Joins a room; `rooms` includes it when the callback runs, and in a presence room `presence(room)` has its list. */
  roomAdd (room: string): Promise<RoomAddResponse>
  roomAdd (room: string, callback: Callback<RoomAddResponse>): void
  roomAdd (room: string, callback?: Callback<RoomAddResponse>): Promise<RoomAddResponse> | undefined {
    return withCallback(callback, (done) => {
      if (!this.rooms.includes(room)) this.#presence.expect(room)
      this.#send<RoomAddResponse>({ event: 'roomAdd', room }, (reply) => {
        if (reply.error === undefined || reply.error === ERRORS.alreadyInRoom) this.#joined(room)
        this.#placed(room, reply)
        if (reply.error === undefined || !this.rooms.includes(room)) this.#listed(room, reply)
        done(reply)
      })
    })
  }

  /**
   * Who is in a presence room the client is in, one entry per presence key (a person, not a tab) with
   * its connections' details: the `roomAdd` reply's list, kept current by the changes since. Null when
   * the room has no presence, or the client is not in it.
   */
  presence (room: string): PresenceMembers | null {
    return this.#presence.view(room)
  }

  /** Leaves a room; `rooms` no longer includes it when the callback runs. */
  roomLeave (room: string): Promise<VerbResponse<boolean>>
  roomLeave (room: string, callback: Callback<VerbResponse<boolean>>): void
  roomLeave (room: string, callback?: Callback<VerbResponse<boolean>>): Promise<VerbResponse<boolean>> | undefined {
    return withCallback(callback, (done) => this.#send<VerbResponse<boolean>>({ event: 'roomLeave', room }, (reply) => {
      if (reply.error === undefined || reply.error === ERRORS.notInRoom) this.#left(room)
      done(reply)
    }))
  }

  /** A file of the server's public folder: text as text, other types base64 (`encoding: 'base64'`). */
  file (name: string): Promise<FileResponse>
  file (name: string, callback: Callback<FileResponse>): void
  file (name: string, callback?: Callback<FileResponse>): Promise<FileResponse> | undefined {
    return withCallback(callback, (done) => this.#send({ event: 'file', file: name }, done))
  }

  /** The server's actions: their names, descriptions and inputs. */
  documentation (): Promise<VerbResponse<Record<string, ActionDocumentation>>>
  documentation (callback: Callback<VerbResponse<Record<string, ActionDocumentation>>>): void
  documentation (callback?: Callback<VerbResponse<Record<string, ActionDocumentation>>>): Promise<VerbResponse<Record<string, ActionDocumentation>>> | undefined {
    return withCallback(callback, (done) => this.#send({ event: 'documentation' }, done))
  }

  /**
   * Sends fresh credentials (`params`, default what `options.refresh` supplies) to the server's `refresh`
   * option; the reply's `data.expiresAt` says when they expire. Refused, the server closes the connection.
   */
  async refresh (params?: Record<string, unknown>): Promise<VerbResponse<RefreshedCredentials>> {
    const credentials = params ?? await this.options.refresh?.() ?? {}
    return await new Promise((resolve) => this.#send({ event: 'refresh', params: credentials }, resolve))
  }

  /** Closes the connection at once, without reconnecting; requests still waiting are answered with an error. */
  disconnect (): void {
    const socket = this.#socket
    if (socket === null) return
    this.#release() // from here on, the socket's own events are not ours to handle
    // A socket of our own goes for good: destroyed, it no longer reopens when the browser comes back
    // online (`end()` alone does nothing to a socket that the network already closed).
    if (socket === this.#adopted || typeof socket.destroy !== 'function') socket.end()
    else socket.destroy()
    this.#stopped('disconnected')
  }

  // ----- the socket -------------------------------------------------------------------------------

  #open (): void {
    const adopted = this.#adopted
    if (adopted === null) return this.#follow(this.#newSocket())
    // Closed by `disconnect()` or for good by the server: the same socket opens again.
    this.#follow(adopted)
    adopted.open()
  }

  #newSocket (): PrimusSocket {
    const { url, apiPath, Primus = (globalThis as { Primus?: PrimusSocketConstructor }).Primus, manual, refresh, ...primusOptions } = this.options
    if (Primus === undefined) {
      throw new TypeError('ActionheroClient: Primus is not loaded; load the generated actionheroClient.js, or pass options.Primus')
    }
    // Primus writes into its options (into `strategy`, for one), so it gets copies; and it reads a key
    // that is present as given, so none is set to undefined. `connect()` is what opens the socket, not `manual`.
    const socketOptions: Record<string, unknown> = { ...primusOptions, manual: false }
    if (Array.isArray(primusOptions.strategy)) socketOptions.strategy = [...primusOptions.strategy]
    return new Primus(url, socketOptions)
  }

  /** Makes `socket` this client's: its events drive the client until `#release`. */
  #follow (socket: PrimusSocket): void {
    this.#socket = socket
    this.#hasConnected = false
    this.#lastError = null
    this.state = 'connecting'
    let offline = false
    const listeners: Record<string, (...args: never[]) => void> = {
      open: () => this.#opened(socket),
      data: (message: unknown) => this.#inbox.receive(message),
      error: (error: Error) => {
        this.#lastError = error
        this.emit('error', error)
      },
      close: () => {
        this.#session++
        this.#requests.failSent(ERRORS.connectionClosed)
      },
      // Primus's strategy decided to reconnect (the connection was lost, not ended by the server): the
      // client schedules the attempts itself, with jitter from the first one on.
      'reconnect scheduled': () => this.#takeOver(socket),
      timeout: () => {
        // An attempt of the client's that timed out ends, and the next one is scheduled.
        if (this.#retry !== null) return
        this.state = 'timeout'
        this.emit('timeout')
      },
      // The browser went offline: Primus ends the socket now and opens it again on `online` (when its
      // strategy says so). That end is a lost connection, not the last one: the client follows it back.
      offline: () => { offline = reopensWhenOnline(socket) },
      online: () => { offline = false },
      end: () => {
        if (this.#takingOver) return
        if (offline) return this.#lost()
        // An attempt of the client's failed (refused, e.g. 503 from a node that is closing, or no
        // server there): try again later, until `retries` run out. A first connection refused with
        // 503 (Node.js sees the status; a browser does not) is retried too, within `timeout`.
        if (this.#retry !== null || (this.state === 'connecting' && isUnavailable(this.#lastError))) return this.#scheduleAttempt(socket)
        this.#release()
        this.#stopped(this.state === 'timeout' ? 'timeout' : 'disconnected')
      }
    }
    for (const [event, listener] of Object.entries(listeners)) socket.on(event, listener)
    this.#detach = () => {
      for (const [event, listener] of Object.entries(listeners)) socket.removeListener(event, listener)
    }
    // An adopted socket may be open already: it will not say so again.
    if (socket.readyState === PRIMUS_OPEN) this.#opened(socket)
  }

  #release (): void {
    this.#stopRetrying()
    this.#detach()
    this.#detach = () => {}
    this.#socket = null
  }

  /**
   * `connect()` settles within `timeout`: Primus retries a refused or unreachable server for minutes,
   * so a first connection not made by then is given up, with the last error as the reason.
   */
  #giveUpAfter (timeout: number): void {
    const socket = this.#socket
    this.#connectTimer = setTimeout(() => {
      if (socket === null || this.#socket !== socket) return
      const reason = this.#lastError?.message ?? 'no answer'
      this.#lastError = new Error(`could not connect to ${this.options.url ?? 'the server'} within ${timeout} ms: ${reason}`)
      this.#socket = null
      socket.end()
      this.emit('timeout')
      this.#stopped('timeout')
    }, timeout)
  }

  /**
   * The socket is open: join the rooms again and ask for the pushes missed meanwhile, then fetch the
   * details, then let the waiting requests go.
   */
  #opened (socket: PrimusSocket): void {
    this.#stopRetrying()
    const session = ++this.#session
    const current = (): boolean => session === this.#session
    const send = (message: ClientMessage, answer: Answer): void => this.#requests.add(message, answer, (request) => socket.write(request))
    let details: Reply | null = null
    let pushes = false
    const settle = (): void => { if (details !== null && pushes) this.#connected(details) }
    const fetchDetails = (): void => send({ event: 'detailsView' }, (reply) => {
      if (!current()) return
      details = reply
      settle()
    })
    const position = this.#pushes
    // A server without history answers without a position; one that does not know the verb, with an error: both are fine.
    send({ event: 'pushesSince', since: position === null ? undefined : { epoch: position.epoch, offset: position.offset } }, (reply) => {
      if (!current()) return
      this.#pushes = placed(this.#pushes, reply as PushesSinceFields)
      if (typeof reply.recovered === 'boolean') this.emit('pushesRecovered', { recovered: reply.recovered })
      pushes = true
      settle()
    })
    const rooms = [...this.rooms]
    let rejoining = rooms.length
    if (rejoining === 0) return fetchDetails()
    // The details come after every join is answered, so that their `rooms` are complete. With a
    // position in a room, the server first replays what was said there meanwhile.
    for (const room of rooms) {
      const position = this.#positions.get(room)
      const since = position === undefined ? undefined : { epoch: position.epoch, offset: position.offset }
      // The list is made again from the reply, never added to the one known.
      this.#presence.expect(room)
      send({ event: 'roomAdd', room, since }, (reply) => {
        if (!current()) return
        this.#placed(room, reply as RoomAddFields)
        this.#listed(room, reply as RoomAddFields)
        if (typeof reply.recovered === 'boolean') this.emit('recovered', { room, recovered: reply.recovered })
        if (--rejoining === 0) fetchDetails()
      })
    }
  }

  #connected (detailsReply: Reply): void {
    const reply = detailsReply as VerbResponse<ConnectionDetails>
    if (reply.data !== undefined) this.#adopt(reply.data)
    const reconnected = this.#hasConnected
    this.#hasConnected = true
    this.state = 'connected'
    const socket = this.#socket
    if (socket !== null) this.#requests.flush((message) => socket.write(message))
    if (reconnected) this.emit('reconnect')
    this.emit('connected')
    this.#settleConnect(errorOf(reply), reply)
  }

  /**
   * Stops the attempt Primus just scheduled and schedules the client's own. Primus's `end()` closes a
   * socket still opening; on a closed socket it stops the reconnection under way (its documented way
   * to reconnect by hand: `end()`, then `open()` once nothing is planned).
   */
  #takeOver (socket: PrimusSocket): void {
    this.#takingOver = true
    try {
      socket.end()
      socket.end()
    } finally {
      this.#takingOver = false
    }
    this.#scheduleAttempt(socket)
  }

  /** Schedules the next attempt to open `socket` (backoff.ts), or gives up once `retries` ran out. */
  #scheduleAttempt (socket: PrimusSocket): void {
    const attempt = (this.#retry?.attempt ?? 0) + 1
    const options = this.options.reconnect ?? {}
    if (attempt > (options.retries ?? Infinity)) {
      this.#release()
      return this.#stopped('disconnected')
    }
    clearTimeout(this.#retry?.timer)
    const delay = reconnectDelay(attempt, options)
    this.#retry = {
      attempt,
      timer: setTimeout(() => {
        if (this.#socket === socket) socket.open()
      }, delay)
    }
    this.#lost()
    this.emit('reconnecting', { attempt, delay })
  }

  #stopRetrying (): void {
    clearTimeout(this.#retry?.timer)
    this.#retry = null
  }

  /** The connection is lost and will be tried again: `disconnected` fires once, when it was connected. */
  #lost (): void {
    const lost = this.state === 'connected'
    this.state = 'reconnecting'
    if (lost) this.emit('disconnected')
  }

  /** The socket is gone for good (ended by the server, out of retries, or `disconnect()`). */
  #stopped (state: 'disconnected' | 'timeout'): void {
    this.#stopRetrying()
    const previous = this.state
    this.#session++
    this.state = state
    this.#requests.failAll(ERRORS.connectionClosed)
    const error = this.#lastError?.message === '' && !this.#hasConnected
      // A browser does not tell the page why a handshake failed: say what is known; the server logs why.
      ? new Error(`could not connect to ${this.options.url ?? 'the server'}: the handshake failed (refused by the server, or no server there)`)
      : this.#lastError ?? new Error(ERRORS.connectionClosed)
    this.#settleConnect(error, failureReply({ event: 'detailsView' }, error.message) as VerbResponse<ConnectionDetails>)
    if (previous === 'connected' || previous === 'reconnecting') this.emit('disconnected')
  }

  #settleConnect (error: Error | null, details: VerbResponse<ConnectionDetails>): void {
    clearTimeout(this.#connectTimer)
    for (const callback of this.#connectCallbacks.splice(0)) queueMicrotask(() => callback(error, details))
  }

  // ----- messages ---------------------------------------------------------------------------------

  /** Sends now when connected, queues while (re)connecting, and answers with an error when there is no socket. */
  #send<Response = Reply> (message: ClientMessage, answer: Callback<Response>): void {
    const socket = this.#socket
    if (socket === null) {
      queueMicrotask(() => answer(failureReply(message, ERRORS.notConnected) as Response))
      return
    }
    const write = this.state === 'connected' ? (request: ClientMessage) => socket.write(request) : null
    this.#requests.add(message, answer as Answer, write)
  }

  /** Handles one message from the server; true when it answered a request. */
  #receive (message: unknown): boolean {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return false
    const received = message as PushMessage
    this.emit('message', received as ServerMessage)
    if (received.context === 'response') return this.#requests.answer(received)
    this.#pushed(received)
    return false
  }

  /** A message the server sent on its own (not a reply). */
  #pushed (received: PushMessage): void {
    if (received.context === 'user') return this.#heard(received as unknown as ChatMessage)
    if (isPresenceChange(received)) {
      if (this.#presence.apply(received)) this.emit('presence', received)
      return
    }
    // The server closes the connection and says why; or it asks for fresh credentials (PROTOCOL.md 3.6).
    if (received.context === 'closed') {
      this.emit('closed', { reason: String(received.reason), reconnect: received.reconnect === true })
      return
    }
    if (received.context === 'refresh') return this.#refreshAsked()
    if (isLoss(received)) {
      if (received.context === 'room' && typeof received.room === 'string') return this.#roomLost(received as unknown as RoomRecoveredMessage)
      if (received.context === 'pushes') return this.#pushesLost(received as unknown as HistoryPosition)
    }
    if (!this.#isNewPush(received)) return
    if (received.context === 'alert') {
      this.emit('alert', received)
    } else if (received.context === 'api' && typeof received.welcome === 'string') {
      this.welcomeMessage = received.welcome
      this.emit('welcome', received as unknown as WelcomeMessage)
    } else {
      this.emit('api', received)
    }
  }

  /** `options.refresh`, when the app gave one, supplies the fresh credentials the server asks for. */
  #refreshAsked (): void {
    if (this.options.refresh !== undefined) this.refresh().catch((error: Error) => this.emit('error', error))
  }

  /** False for a push of the visitor's stream (sendToFingerprint with history on) delivered already; moves the stream's position. */
  #isNewPush ({ pushEpoch, pushOffset }: PushMessage): boolean {
    if (typeof pushEpoch !== 'string' || typeof pushOffset !== 'number') return true
    const [isNew, position] = advance(this.#pushes, pushEpoch, pushOffset)
    this.#pushes = position
    return isNew
  }

  #heard (message: ChatMessage): void {
    if (!this.#isNew(message)) return
    // The server's notice that a room is being destroyed: its members are out of it.
    if (message.from === 0 && message.message === ERRORS.roomDeleted) this.#left(message.room)
    this.emit('say', message)
  }

  /** False for a room message delivered already (replayed after a reconnect, or heard live meanwhile); moves the room's position. */
  #isNew ({ room, epoch, offset }: ChatMessage): boolean {
    if (typeof epoch !== 'string' || typeof offset !== 'number') return true
    const [isNew, position] = advance(this.#positions.get(room) ?? null, epoch, offset)
    this.#positions.set(room, position)
    return isNew
  }

  /** The room's position from a `roomAdd` reply. */
  #placed (room: string, fields: RoomAddFields): void {
    const position = placed(this.#positions.get(room) ?? null, fields)
    if (position !== null) this.#positions.set(room, position)
  }

  /** The server missed messages of a room this client is in: it goes on after the position given. */
  #roomLost ({ room, epoch, offset }: RoomRecoveredMessage): void {
    if (!this.rooms.includes(room)) return
    this.#positions.set(room, { epoch, offset, heard: offset })
    this.emit('recovered', { room, recovered: false })
  }

  #pushesLost ({ epoch, offset }: HistoryPosition): void {
    this.#pushes = { epoch, offset, heard: offset }
    this.emit('pushesRecovered', { recovered: false })
  }

  #adopt (details: ConnectionDetails): void {
    this.details = details
    this.id = details.id
    this.fingerprint = details.fingerprint
    this.rooms = [...details.rooms]
  }

  #joined (room: string): void {
    if (!this.rooms.includes(room)) this.rooms.push(room)
  }

  #left (room: string): void {
    this.rooms = this.rooms.filter((joined) => joined !== room)
    this.#positions.delete(room)
    this.#presence.forget(room)
  }

  /** The list of a presence room from its `roomAdd` reply. */
  #listed (room: string, { presence }: RoomAddFields): void {
    if (this.#presence.listed(room, presence)) this.emit('presence', { context: 'presence', room, event: 'list' })
  }
}

/**
 * A message at `offset` of `epoch` in a stream where the client is at `position`: whether it is new
 * (not delivered already), and the position after it. A message of another epoch starts the stream over.
 */
function advance (position: StreamPosition | null, epoch: string, offset: number): [boolean, StreamPosition] {
  if (position === null || position.epoch !== epoch) return [true, { epoch, offset, heard: offset }]
  if (offset <= position.heard) return [false, position]
  position.heard = offset
  position.offset = Math.max(position.offset, offset)
  return [true, position]
}

/**
 * The position a `roomAdd` or `pushesSince` reply gives (unchanged when it gives none). In a history the
 * client had not heard of, nothing is taken as heard: a message published just before the request may
 * still arrive after the reply.
 */
function placed (position: StreamPosition | null, { epoch, offset }: RoomAddFields): StreamPosition | null {
  if (typeof epoch !== 'string' || typeof offset !== 'number') return position
  if (position === null || position.epoch !== epoch) return { epoch, offset, heard: 0 }
  position.offset = Math.max(position.offset, offset)
  return position
}

/** A presence change of the shape the client applies (PROTOCOL.md 3.3.1); anything else is an `api` push. */
function isPresenceChange (message: PushMessage): message is PushMessage & PresenceMessage {
  const { member } = message as { member?: unknown }
  return message.context === 'presence' && typeof message.room === 'string' && typeof message.key === 'string' &&
    ['join', 'leave', 'update'].includes(message.event as string) && typeof message.version === 'number' &&
    typeof member === 'object' && member !== null && typeof (member as { id?: unknown }).id === 'string'
}

/** A server's notice that messages of a stream may be missing, with where the stream goes on. */
function isLoss (message: PushMessage): boolean {
  return message.event === 'recovered' && message.recovered === false && typeof message.epoch === 'string' && typeof message.offset === 'number'
}

/** Whether a handshake was refused with 503 Service Unavailable (ws says "Unexpected server response: 503"). */
function isUnavailable (error: Error | null): boolean {
  return error !== null && /\b503\b/.test(error.message)
}

/** Whether Primus opens `socket` again by itself when the browser is back online (its `online` strategy). */
function reopensWhenOnline (socket: PrimusSocket): boolean {
  // Primus keeps its strategies as one comma-separated string once it has read them.
  const strategy = (socket as { options?: { strategy?: unknown } }).options?.strategy
  const strategies = typeof strategy === 'string' ? strategy.split(',') : Array.isArray(strategy) ? strategy : []
  return strategies.includes('online')
}

function errorOf (reply: { error?: string | null }): Error | null {
  return typeof reply.error === 'string' ? new Error(reply.error) : null
}

/** The callback form when a callback is given, else a Promise of the same value. */
function withCallback<Value> (callback: Callback<Value> | undefined, run: (done: Callback<Value>) => void): Promise<Value> | undefined {
  if (callback !== undefined) {
    run(callback)
    return undefined
  }
  return new Promise((resolve) => run(resolve))
}

/** The same for `(error, value)` callbacks: the Promise rejects with the error. */
function withErrorFirst<Value> (
  callback: ((error: Error | null, value: Value) => void) | undefined,
  run: (done: (error: Error | null, value: Value) => void) => void
): Promise<Value> | undefined {
  if (callback !== undefined) {
    run(callback)
    return undefined
  }
  return new Promise((resolve, reject) => run((error, value) => error === null ? resolve(value) : reject(error)))
}
