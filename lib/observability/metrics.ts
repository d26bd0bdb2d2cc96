/**
 * Metrics: what the plugin's modules tell of what happens, at the points where they know it. They
 * call a `Metrics` object; with the `metrics` option off it is `NO_METRICS`, whose methods do nothing,
 * and the few places that would time something check `enabled` first. With it on it is the Prometheus
 * one (prometheus.ts, loaded only then). This module holds no prom-client import, so that nothing the
 * package's types reach needs prom-client installed.
 *
 * Every label has a fixed set of values: none takes a room name, a connection id, a fingerprint or a
 * name a client chose (an unknown action is `UNKNOWN_ACTION`, an unknown event `unknown`).
 */
import type { RefusalReason } from '../gate.js'
import type { TracedOutcome, TracedTransport } from './tracing.js'

/** Why a client's message was answered with an error before any handler ran (the protocol-errors metric's `code`). */
export type ProtocolErrorCode = 'not_an_object' | 'unknown_event' | 'too_many_pending_requests' | 'internal_error'

/** How a replay of history after `since` went: all of it (`recovered`), too old for the history (`too_old`), or unreadable (`failed`). */
export type ReplayOutcome = 'recovered' | 'too_old' | 'failed'

/** What the gauges read when scraped, per app. */
export interface GaugeSources {
  connections: () => number
  /** Rooms with a member on this node, and their members here. */
  rooms: () => { rooms: number, members: number }
  /** 1 while connected to Redis, 0 during an outage; null: this app has no Redis. */
  redisUp: (() => number) | null
}

export interface Metrics {
  /** Whether anything is counted: callers read the clock (or measure anything) only then. */
  readonly enabled: boolean
  /** Reads the gauges of this app while it runs; `close` forgets them. */
  watch: (sources: GaugeSources) => void
  handshakeAccepted: () => void
  handshakeRefused: (reason: RefusalReason) => void
  /** A client message, by its event (an event no handler has counts as `unknown`, a message that is no object as `invalid`). */
  messageReceived: (event: string) => void
  /** A message written to a client: `message` is the object when the writer had it (a reply has none). */
  messageSent: (message: object | undefined) => void
  /** A frame (a string, a Buffer, or an array of them) as it arrived, or as it was handed to the socket. */
  bytesReceived: (data: unknown) => void
  bytesSent: (data: unknown) => void
  protocolError: (code: ProtocolErrorCode) => void
  actionFinished: (action: string, transport: TracedTransport, outcome: TracedOutcome, seconds: number) => void
  slowReaderCut: () => void
  sayFannedOut: (seconds: number) => void
  historyReplayed: (outcome: ReplayOutcome) => void
  busMessageDropped: () => void
  membersReaped: (count: number) => void
  /** Stops counting this app's gauges; the registry keeps the metrics while another app uses them. */
  close: () => void
}

function nothing (): void {}

/** The metrics of an app without the `metrics` option: nothing is counted, nothing is timed. */
export const NO_METRICS: Metrics = Object.freeze({
  enabled: false,
  watch: nothing,
  handshakeAccepted: nothing,
  handshakeRefused: nothing,
  messageReceived: nothing,
  messageSent: nothing,
  bytesReceived: nothing,
  bytesSent: nothing,
  protocolError: nothing,
  actionFinished: nothing,
  slowReaderCut: nothing,
  sayFannedOut: nothing,
  historyReplayed: nothing,
  busMessageDropped: nothing,
  membersReaped: nothing,
  close: nothing
})

/** Seconds since `started` (a `performance.now()`). */
export function secondsSince (started: number): number {
  return (performance.now() - started) / 1000
}
