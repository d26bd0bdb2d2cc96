/**
 * The wire protocol of PROTOCOL.md, shared by the server and the browser client:
 * a change to the protocol is a change here, and both sides follow.
 */

/** A request's id, echoed in its reply: a string of at most 128 characters, or a finite number. */
export type MessageId = string | number

export const MAX_MESSAGE_ID_LENGTH = 128

/** What every client message may carry. */
interface RequestBase {
  messageId?: MessageId
}

// ---------------------------------------------------------------------------------------------
// Client to server (PROTOCOL.md 2)
// ---------------------------------------------------------------------------------------------

export interface ActionRequest extends RequestBase {
  event: 'action'
  params: { action: string, [input: string]: unknown }
}

export interface SayRequest extends RequestBase {
  event: 'say'
  room: string
  message: unknown
}

export interface RoomRequest extends RequestBase {
  event: 'roomAdd' | 'roomLeave' | 'roomView'
  room: string
  /** `roomAdd` only: the position of the last message the client has; the server replays what came after. */
  since?: HistoryPosition
  /** `roomView` only: true for the counts without the member list (RoomCounts). */
  count?: boolean
  /** `roomAdd` only: false for no presence list in the reply (the changes come all the same). */
  presence?: false
}

/** The last messages a room's history holds (members only); `limit`: at most that many (50 without one, never more than 100). */
export interface RoomHistoryRequest extends RequestBase {
  event: 'roomHistory'
  room: string
  limit?: number
}

/**
 * Where the client is in its visitor's push stream (`sendToFingerprint`), at connect and after every
 * reconnect; with `since`, the pushes after it are written first. Answered like `roomAdd`: with
 * history on, the stream's `epoch` and `offset` and, with `since`, `recovered`.
 */
export interface PushesSinceRequest extends RequestBase {
  event: 'pushesSince'
  since?: HistoryPosition
}

export interface DetailsViewRequest extends RequestBase {
  event: 'detailsView'
}

export interface FileRequest extends RequestBase {
  event: 'file'
  file: string
}

export interface DocumentationRequest extends RequestBase {
  event: 'documentation'
}

export interface QuitRequest extends RequestBase {
  event: 'quit' | 'exit'
}

/**
 * Fresh credentials for the connection, for the server's `refresh` option: sent when the server asks
 * (a `refresh` message, 3.6) or whenever the client rotates them. Answered with `data: { expiresAt }`;
 * refused with the reason, and the connection closed (3.6).
 */
export interface RefreshRequest extends RequestBase {
  event: 'refresh'
  params?: Record<string, unknown>
}

export type ClientMessage =
  | ActionRequest
  | SayRequest
  | RoomRequest
  | RoomHistoryRequest
  | PushesSinceRequest
  | DetailsViewRequest
  | FileRequest
  | DocumentationRequest
  | QuitRequest
  | RefreshRequest

export type ClientEvent = ClientMessage['event']

// ---------------------------------------------------------------------------------------------
// Server to client (PROTOCOL.md 3)
// ---------------------------------------------------------------------------------------------

/** 3.1: sent once when a connection opens. */
export interface WelcomeMessage {
  context: 'api'
  welcome: string
}

/** The keys the server owns in every reply; an action's result cannot override them. */
export interface ReplyFields {
  context: 'response'
  messageCount: number
  messageId?: MessageId
}

/** 3.2: the reply to an `action` request. `Result` is what the action returned (objects as is). */
export type ActionReply<Result extends object = Record<string, unknown>> =
  Partial<Result> & ReplyFields & { error?: string }

/** 3.2: the reply to every verb but `action` and `file`. */
export interface VerbReply<Data = unknown> extends ReplyFields {
  status: string
  data?: Data
  error?: string
}

/** 3.3: a chat message relayed to the members of a room. A server broadcast has `from: 0`. */
export interface ChatMessage<Message = unknown> {
  context: 'user'
  room: string
  from: string | 0
  message: Message
  sentAt: number
  /** With history on: 1, 2, 3... per room, in the order every member gets them. */
  offset?: number
  /** With history on: the name of the room's history; a new one means messages were lost. */
  epoch?: string
}

/** Where a client is in a room's history: the epoch and the offset of the last message it has. */
export interface HistoryPosition {
  epoch: string
  offset: number
}

/**
 * The fields a `roomAdd` reply adds next to `status` and `data` when history is on: the room's
 * position, and, when the request had `since`, whether every message after it was replayed.
 */
export interface RoomAddFields extends Partial<HistoryPosition> {
  recovered?: boolean
  /** In a presence room (issue 22): who is here, as of `version`; the changes after it follow as PresenceMessage. */
  presence?: PresenceList
}

/**
 * Who is in a presence room (issue 22), one entry per presence key (a person, not a tab): the details
 * of each of its connections in the room (Phoenix's metas). `version` is the room's presence version
 * when the list was read: a change at or below it is in the list already.
 */
export interface PresenceList {
  version: number
  keys: Record<string, RoomMemberView[]>
}

/**
 * A change of who is in a presence room, sent to its members: the first connection of a key joined
 * (`join`), its last one left (`leave`), or a member's details changed (`update`). `member` is the
 * connection that made the change. `version` grows by at least 1 per change of the room.
 */
export interface PresenceMessage {
  context: 'presence'
  room: string
  event: 'join' | 'leave' | 'update'
  key: string
  member: RoomMemberView
  version: number
}

/** The fields of a `pushesSince` reply next to `status`: as a `roomAdd`'s, for the visitor's push stream. */
export type PushesSinceFields = RoomAddFields

/**
 * Sent to a member while it stays connected when its server missed messages of the room that the
 * history no longer holds: messages may be missing, as `recovered: false` after a reconnect; the room
 * goes on after `epoch` and `offset`.
 */
export interface RoomRecoveredMessage extends HistoryPosition {
  context: 'room'
  event: 'recovered'
  room: string
  recovered: false
}

/** The same for the visitor's push stream (`sendToFingerprint`): pushes may be missing. */
export interface PushesRecoveredMessage extends HistoryPosition {
  context: 'pushes'
  event: 'recovered'
  recovered: false
}

/** 3.4: the reply to a `file` request. */
export interface FileReply extends ReplyFields {
  error: string | null
  content: string | null
  mime: string | null
  length: number
  lastModified?: number
  encoding?: 'base64'
}

/**
 * 3.5: a push from server code; `alert` messages fire the client's `alert` event. A push of
 * `sendToFingerprint` with history on carries its place in the visitor's push stream.
 */
export interface PushMessage {
  context?: string
  pushOffset?: number
  pushEpoch?: string
  [key: string]: unknown
}

/**
 * 3.6: the server closes the connection, and says why: a kick (`disconnect`), credentials that expired
 * or whose refresh failed, or a new `authorize` that refused them. With `reconnect: false` the client
 * does not come back (Primus's `primus::server::close` follows).
 */
export interface ClosedMessage {
  context: 'closed'
  reason: string
  reconnect: boolean
}

/** 3.6: the connection's credentials expire at `expiresAt` (ms since the epoch): send fresh ones (`refresh`). */
export interface RefreshMessage {
  context: 'refresh'
  expiresAt: number
}

/** `data` of the `refresh` reply: when the new credentials expire (null: never). */
export interface RefreshedCredentials {
  expiresAt: number | null
}

/** `data` of the `detailsView` reply. */
export interface ConnectionDetails {
  id: string
  fingerprint: string | null
  remoteIP: string
  remotePort: number
  params: Record<string, unknown>
  connectedAt: number
  rooms: string[]
  totalActions: number
  pendingActions: number
}

/** One member in the `roomView` reply: its id and join time, then what the `memberDetails` option made for it. */
export interface RoomMemberView {
  id: string
  joinedAt: number
  [detail: string]: unknown
}

/** `data` of the `roomView` reply. */
export interface RoomMembers {
  room: string
  members: Record<string, RoomMemberView>
  membersCount: number
  /** In a presence room: how many presence keys (people) are here. */
  keysCount?: number
}

/** `data` of a `roomView` with `count: true`: the counts without the list, cheap in a large room. */
export type RoomCounts = Omit<RoomMembers, 'members'>

/** One entry of the `documentation` reply's `data`. */
export interface ActionDocumentation {
  name: string
  description: string | null
  inputs: object | null
}

export type ServerMessage =
  | WelcomeMessage | ActionReply | VerbReply | ChatMessage | PresenceMessage | FileReply | RoomRecoveredMessage | PushesRecoveredMessage | ClosedMessage
  | RefreshMessage | PushMessage

// ---------------------------------------------------------------------------------------------
// The error strings of PROTOCOL.md 3.2, exactly. The one table: server code never spells one out.
// ---------------------------------------------------------------------------------------------

export const ERRORS = {
  requiredParameter: (key: string) => `${key} is a required parameter for this action`,
  invalidParameter: (key: string, problem: string) => `\`${key}\` ${problem}`,
  unknownAction: 'unknown action or invalid apiVersion',
  tooManyPendingActions: 'you have too many pending requests',
  connectionTypeBlocked: (type: string) => `this action does not support the ${type} connection type`,
  shuttingDown: 'the server is shutting down',
  internalError: 'The server experienced an internal error',
  unknownVerb: 'verb not found or not allowed',
  notAnObject: 'message must be a JSON object',
  roomNotFound: 'room does not exist',
  alreadyInRoom: 'connection already in this room',
  notInRoom: 'connection not in this room',
  notMemberOf: (room: string) => `not member of room ${room}`,
  sayIncomplete: 'both room and message are required',
  roomRequired: 'a room is required',
  /** `roomAdd` refused because the `memberDetails` option threw or did not give a plain JSON object. */
  memberDetailsFailed: 'the server could not make the member details of this connection',
  presenceKeyFailed: 'the server could not make the presence key of this connection',
  /** Sent to a room's members, as a chat message `from: 0`, just before the room is destroyed. */
  roomDeleted: 'this room has been deleted',
  fileNotFound: 'That file is not found',
  fileTooLarge: 'That file is too large',
  /** An action returned a value JSON cannot hold (a BigInt, a cycle, nesting too deep, a throwing toJSON). */
  resultNotEncodable: 'the action returned a value that cannot be sent as JSON',
  /** A `say` whose message JSON cannot hold (e.g. nested deeper than the server can encode). */
  messageNotEncodable: 'the message cannot be sent as JSON',
  /** A `say` over the connection's budget (the `sayLimit` option): it reached nobody. */
  sayOverBudget: 'you are saying too much too fast: wait a moment and say it again',
  /** The gate (HTTP, PROTOCOL.md 6): a request from an origin that is not allowed (403). */
  originNotAllowed: 'origin not allowed',
  /** The gate: a JSONP or iframe long-polling request, which another site's page could read (403). */
  transportNotServed: 'JSONP and iframe transports are not served',
  /** The gate: `authorize` refused with an Error of empty message (401). */
  unauthorized: 'unauthorized',
  /** The HTTP API: a method `apiMethods` does not list (405, with `Allow`). */
  methodNotAllowed: 'this HTTP method is not allowed for actions',
  /** The HTTP API: a POST whose body is not JSON, e.g. a form or text/plain (415). */
  bodyNotJson: 'the body of an action must be JSON (Content-Type: application/json)',
  /** The client's own answers (PROTOCOL.md 4), when no reply from the server can come. */
  connectionClosed: 'the connection closed before a response arrived',
  requestTimedOut: 'the server did not answer in time',
  notConnected: 'the client is not connected',
  /** Server API only (`rooms.addMember` and the like): no such connection on any node. */
  connectionNotFound: (id: string) => `connection ${id} is not connected`,
  /** Server API only: the node that holds a connection did not answer a membership change in time. */
  nodeDidNotAnswer: (id: string) => `the server of connection ${id} did not answer`,
  /** With `redis`: Redis did not answer a request (a join, leave, say, view, destroy) within `redis.requestTimeout`. */
  clusterTimeout: 'the cluster did not answer in time',
  /** With `redis`: Redis could not be reached for a request; nothing was done, try again. */
  clusterUnavailable: 'the cluster could not be reached; try again',
  /** 3.6: the reason of a kick (`disconnect`) that gave none. */
  disconnected: 'the server closed this connection',
  /** 3.6: the credentials expired and no `refresh` renewed them within the grace period. */
  credentialsExpired: 'the credentials of this connection expired',
  /** With `redis` and history off: a `say` reached this server's members, but could not be sent to the other servers. */
  deliveredHereOnly: 'the message reached only the members on this server'
} as const
