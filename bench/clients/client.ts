/**
 * A bench client: one connection to a target, speaking that target's protocol. Every scenario
 * drives every target through this interface, so a scenario is written once.
 */

/** What a scenario hears from its clients. */
export interface ClientHandlers {
  /** The reply to `client.echo(sentAt)` arrived. */
  onEcho?: (sentAt: number, client: BenchClient) => void
  /** A member of the room said `message`. */
  onSay?: (message: string) => void
  /** A presence change of a room (the plugin's presence rooms): `join`, `leave` or `update`, and its key. */
  onPresence?: (event: string, key: string) => void
}

export interface BenchClient {
  /** Sends a request that the server answers with `sentAt` (the `performance.now()` of sending) and a short text. */
  echo (sentAt: number): void
  /** Joins `room`; resolves once the server has confirmed it. */
  join (room: string): Promise<void>
  say (room: string, message: string): void
  /** Leaves `room`; resolves once the server has confirmed it. The ActionHero protocol's clients only. */
  leave?: (room: string) => Promise<void>
  /** Starts closing the connection, politely (the library's own close). */
  close (): void
}

/** Opens a connection to the target at `url` (`http://127.0.0.1:port`); resolves once it is open. */
export type ConnectClient = (url: string, handlers: ClientHandlers) => Promise<BenchClient>

/** How a load process connects: `localAddress` is the loopback source address of its sockets (127.0.0.2...). */
export interface ConnectOptions {
  localAddress?: string
  /** The handshake's Cookie header (the plugin's fingerprint), for the `ws` client. */
  cookie?: string
}

/** The text every echo request carries. */
export const ECHO_TEXT = 'hello, bench'
