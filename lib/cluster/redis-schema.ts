/**
 * The Redis layout of a cluster, spelled out once: every key and channel name is made here, and every
 * Lua script here receives all the keys it touches through KEYS (nothing builds a key name inside Lua),
 * so the scripts run on Redis Cluster too.
 *
 * Keys hold the cluster's state; they all share the hash tag `{cluster}` (one slot), so that any script
 * or MULTI may touch any of them together:
 *
 *   <prefix>{cluster}nodes                     sorted set: node id -> its last heartbeat (ms, Redis's clock)
 *   <prefix>{cluster}data-id                   a random id of this Redis's data: a new one means Redis lost it
 *   <prefix>{cluster}rooms                     set of rooms
 *   <prefix>{cluster}destroying                set of rooms whose destroy has not finished all its steps
 *   <prefix>{cluster}room:<room>               hash: member id -> JSON [joinedAt, node, details?, presence key?]
 *   <prefix>{cluster}presence:<room>           hash (presence rooms): k:<presence key> -> its members in the
 *                                              room; version -> the room's presence version (issue 22)
 *   <prefix>{cluster}connections               hash: connection id -> node
 *   <prefix>{cluster}fingerprint:<fp>          set of connection ids
 *   <prefix>{cluster}node:<node>:memberships   set of the node's memberships (see `membershipOf`)
 *   <prefix>{cluster}node:<node>:connections   hash: connection id -> fingerprint (or '')
 *
 * Channels carry the traffic and are tagged by what they address, so that on Redis Cluster sharded
 * pub/sub sends a room's messages only to the shard that owns the room:
 *
 *   <prefix>node:{<node>}   what is addressed to one node's connections
 *   <prefix>room:{<room>}   a room's chat messages and its destruction
 *
 * A room's history (issue 12) shares its channel's hash tag, so that one script can stamp, keep and
 * publish a message on Redis Cluster too; both keys expire when the room has been silent for the
 * history's ttl:
 *
 *   <prefix>history:{<room>}:position   hash: epoch (the history's name), offset (of its latest message),
 *                                       bytes (of the messages kept)
 *   <prefix>history:{<room>}:messages   list, oldest first: "<kept at, ms> <message JSON>"
 *
 * A visitor's pushes (`sendToFingerprint` with history on) are a stream of the same shape, its keys and
 * channel under a hash tag of the fingerprint, and `push` messages (the push as written to the client)
 * on its channel, which every node that holds a connection of the visitor listens to:
 *
 *   <prefix>pushes:{<fingerprint>}             channel
 *   <prefix>pushes:{<fingerprint>}:position    hash: epoch, offset, bytes
 *   <prefix>pushes:{<fingerprint>}:messages    list, as a room's
 */
import { UNSTARTED_EPOCH } from '../rooms/history.js'
import type { RoomMember } from '../rooms/store.js'

export class RedisSchema {
  readonly prefix: string
  readonly nodes: string
  readonly dataId: string
  readonly rooms: string
  readonly destroying: string
  readonly connections: string

  constructor (prefix: string) {
    this.prefix = prefix
    this.nodes = this.#key('nodes')
    this.dataId = this.#key('data-id')
    this.rooms = this.#key('rooms')
    this.destroying = this.#key('destroying')
    this.connections = this.#key('connections')
  }

  room (room: string): string {
    return this.#key(`room:${room}`)
  }

  /** How many members each presence key has in the room, and its presence version (see the top of this file). */
  presence (room: string): string {
    return this.#key(`presence:${room}`)
  }

  fingerprint (fingerprint: string): string {
    return this.#key(`fingerprint:${fingerprint}`)
  }

  membershipsOf (node: string): string {
    return this.#key(`node:${node}:memberships`)
  }

  connectionsOf (node: string): string {
    return this.#key(`node:${node}:connections`)
  }

  nodeChannel (node: string): string {
    return `${this.prefix}node:{${node}}`
  }

  roomChannel (room: string): string {
    return `${this.prefix}room:{${room}}`
  }

  /** The room's history position (see the top of this file). */
  historyPosition (room: string): string {
    return `${this.prefix}history:{${room}}:position`
  }

  /** The room's kept messages. */
  historyMessages (room: string): string {
    return `${this.prefix}history:{${room}}:messages`
  }

  /** A visitor's push stream (`sendToFingerprint`): its history position, shaped as a room's. */
  pushPosition (fingerprint: string): string {
    return `${this.prefix}pushes:{${fingerprint}}:position`
  }

  /** The visitor's kept pushes. */
  pushMessages (fingerprint: string): string {
    return `${this.prefix}pushes:{${fingerprint}}:messages`
  }

  /** The channel of the visitor's pushes, which every node holding one of its connections listens to. */
  pushChannel (fingerprint: string): string {
    return `${this.prefix}pushes:{${fingerprint}}`
  }

  /** The room of a room channel, or null when `channel` is not one. */
  roomOfChannel (channel: string): string | null {
    const start = `${this.prefix}room:{`
    return channel.startsWith(start) && channel.endsWith('}') ? channel.slice(start.length, -1) : null
  }

  #key (name: string): string {
    return `${this.prefix}{cluster}${name}`
  }
}

/** A room membership as a node's memberships set holds it: unambiguous whatever the room's name. */
export function membershipOf (connectionId: string, room: string): string {
  return `${connectionId.length}:${connectionId}${room}`
}

/** The connection and room of a membership, or null when it is not one. */
export function parseMembership (membership: string): { id: string, room: string } | null {
  const colon = membership.indexOf(':')
  const length = Number(membership.slice(0, colon))
  if (colon < 1 || !Number.isSafeInteger(length) || membership.length < colon + 1 + length) return null
  return { id: membership.slice(colon + 1, colon + 1 + length), room: membership.slice(colon + 1 + length) }
}

/** A member as a room hash holds it: details null when it has none but a presence key (which the scripts read). */
export function encodeMember (member: RoomMember, node: string): string {
  if (member.key !== undefined) return JSON.stringify([member.joinedAt, node, member.details ?? null, member.key])
  return JSON.stringify(member.details === undefined ? [member.joinedAt, node] : [member.joinedAt, node, member.details])
}

export function decodeMember (id: string, value: string): RoomMember {
  let decoded: unknown
  try {
    decoded = JSON.parse(value)
  } catch {
    decoded = null
  }
  const [joinedAt, , details, key] = Array.isArray(decoded) ? decoded as unknown[] : []
  const member: RoomMember = { id, joinedAt: typeof joinedAt === 'number' ? joinedAt : 0 }
  if (typeof details === 'object' && details !== null && !Array.isArray(details)) member.details = details as Record<string, unknown>
  if (typeof key === 'string' && key !== '') member.key = key
  return member
}

// Milliseconds on Redis's clock, so that nodes with skewed clocks agree on who is dead.
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`

/**
 * Presence (issue 22), for the scripts that add or remove members: `arrived` and `departed` count a
 * member of a room by its presence key (the 4th element of its encoded value, or ARGV's) in the
 * presence hash KEYS[p], and answer
 * the room's new presence version when it was its key's first or last, else false. The version is at
 * least Redis's clock in ms, so it never goes back, not even after Redis lost its data.
 */
const PRESENCE = `${NOW}
local function bump (p)
  local version = math.max(tonumber(redis.call('HGET', KEYS[p], 'version') or '0') + 1, now)
  redis.call('HSET', KEYS[p], 'version', string.format('%.0f', version))
  return string.format('%.0f', version)
end
local function keyOf (value)
  local ok, decoded = pcall(cjson.decode, value)
  if ok and type(decoded) == 'table' and type(decoded[4]) == 'string' then return decoded[4] end
  return nil
end
local function arrived (p, key)
  if not key or key == '' then return false end
  if redis.call('HINCRBY', KEYS[p], 'k:' .. key, 1) == 1 then return bump(p) end
  return false
end
local function departed (p, value)
  local key = keyOf(value)
  if not key then return false end
  if redis.call('HINCRBY', KEYS[p], 'k:' .. key, -1) > 0 then return false end
  redis.call('HDEL', KEYS[p], 'k:' .. key)
  return bump(p)
end`

/**
 * KEYS: nodes. ARGV: node, nodeTimeout, most dead nodes to return.
 * Records the node's heartbeat; answers whether it was alive until now ('alive') or had been given up
 * for dead, maybe reaped ('reaped'), followed by nodes whose heartbeat is older than nodeTimeout.
 */
export const HEARTBEAT = `${NOW}
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
local result = { 'alive' }
if not last or now - tonumber(last) > tonumber(ARGV[2]) then result[1] = 'reaped' end
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))) do
  table.insert(result, node)
end
return result`

/**
 * KEYS: nodes, the dead node's memberships, its connections, the connection directory, then the room
 * and the presence hash of each membership given, then the fingerprint sets given.
 * ARGV: node, nodeTimeout, membership count m, connection count c, then m times (membership, member
 * id, room), then c times (connection id, index in KEYS of its fingerprint set or 0).
 *
 * One bounded step of reaping a dead node: claiming and removing are one atomic step, and only while
 * the node is still dead; when nothing of it is left it leaves the nodes set. A reaper that dies midway
 * leaves the node there, still dead, for the next. Answers 'alive', 'gone', 'more' or 'done', followed
 * by room, member id, its encoded value, and the room's presence version when it was its presence
 * key's last member there (else ''), for every membership this step removed.
 */
export const REAP = `${PRESENCE}
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not beat then return { 'gone' } end
if now - tonumber(beat) <= tonumber(ARGV[2]) then return { 'alive' } end
local m, c, a = tonumber(ARGV[3]), tonumber(ARGV[4]), 5
local result = { 'more' }
for i = 1, m do
  if redis.call('SREM', KEYS[2], ARGV[a]) == 1 then
    local value = redis.call('HGET', KEYS[3 + 2 * i], ARGV[a + 1])
    if value and redis.call('HDEL', KEYS[3 + 2 * i], ARGV[a + 1]) == 1 then
      table.insert(result, ARGV[a + 2])
      table.insert(result, ARGV[a + 1])
      table.insert(result, value)
      table.insert(result, departed(4 + 2 * i, value) or '')
    end
  end
  a = a + 3
end
for i = 1, c do
  local id, fingerprint = ARGV[a], tonumber(ARGV[a + 1])
  if redis.call('HDEL', KEYS[3], id) == 1 then
    if redis.call('HGET', KEYS[4], id) == ARGV[1] then redis.call('HDEL', KEYS[4], id) end
    if fingerprint > 0 then redis.call('SREM', KEYS[fingerprint], id) end
  end
  a = a + 2
end
if redis.call('SCARD', KEYS[2]) == 0 and redis.call('HLEN', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  result[1] = 'done'
end
return result`

/**
 * KEYS: data id, rooms. ARGV: the data id this node last saw, a new data id, then rooms.
 * When Redis lost its data (its data id is missing, or not the one this node saw) the rooms are written
 * back; otherwise those of them that are gone were destroyed meanwhile, and are answered. The first
 * element of the answer is the id of Redis's data now.
 */
export const RESTORE_ROOMS = `
local dataId = redis.call('GET', KEYS[1])
if not dataId then
  dataId = ARGV[2]
  redis.call('SET', KEYS[1], dataId)
end
local result = { dataId }
for i = 3, #ARGV do
  if dataId ~= ARGV[1] then redis.call('SADD', KEYS[2], ARGV[i])
  elseif redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then table.insert(result, ARGV[i]) end
end
return result`

/**
 * KEYS: rooms, the node's memberships, then the room and the presence hash of each membership.
 * ARGV: per membership, room, member id, encoded member, membership, presence key or ''.
 * Writes memberships back, but never into a room that no longer exists; a member Redis did not hold
 * is counted by its presence key. Answers room, member id, presence version for each member that was
 * its key's first there again (its node tells the room unless Redis lost its data: then nobody heard
 * it leave).
 */
export const RESTORE_MEMBERSHIPS = `${PRESENCE}
local result = {}
for i = 1, (#KEYS - 2) / 2 do
  local a = (i - 1) * 5
  if redis.call('SISMEMBER', KEYS[1], ARGV[a + 1]) == 1 then
    if redis.call('HSET', KEYS[1 + 2 * i], ARGV[a + 2], ARGV[a + 3]) == 1 then
      local version = arrived(2 + 2 * i, ARGV[a + 5])
      if version then
        table.insert(result, ARGV[a + 1])
        table.insert(result, ARGV[a + 2])
        table.insert(result, version)
      end
    end
    redis.call('SADD', KEYS[2], ARGV[a + 4])
  end
end
return result`

/**
 * KEYS: rooms, the room, the node's memberships, the room's presence hash. ARGV: room, member id,
 * encoded member, membership, presence key or ''.
 * Adds a member: never twice, never to a missing room. Answers 'missing', 'already' or 'joined', and
 * after 'joined' the room's presence version when the member is its key's first there.
 */
export const JOIN = `${PRESENCE}
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return { 'missing' } end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return { 'already' } end
redis.call('SADD', KEYS[3], ARGV[4])
local version = arrived(4, ARGV[5])
if version then return { 'joined', version } end
return { 'joined' }`

/**
 * KEYS: the room, the node's memberships, the room's presence hash. ARGV: member id, membership.
 * Answers 1 and the member's encoded value when it was a member (0 when not), and the room's presence
 * version when it was its key's last there.
 */
export const LEAVE = `${PRESENCE}
redis.call('SREM', KEYS[2], ARGV[2])
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return { 0 } end
redis.call('HDEL', KEYS[1], ARGV[1])
local version = departed(3, value)
if version then return { 1, value, version } end
return { 1, value }`

/**
 * KEYS: the room, its presence hash. ARGV: member id, encoded member, presence key or ''.
 * Replaces a member's details; answers 0 when it is not a member, else 1 and, with a presence key,
 * the room's new presence version (an update is a change of the room's presence too).
 */
export const UPDATE = `${PRESENCE}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return { 0 } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then return { 1 } end
return { 1, bump(2) }`

/**
 * KEYS: rooms, the room, destroying, the room's presence hash. ARGV: room.
 * Destroys a room, and records that its destroy has steps left (its history, the other nodes told);
 * answers 1, or 2 when the room is gone already but a destroy of it did not finish (a retry finishes
 * it), or 0. The memberships sets of its members' nodes are cleaned by those nodes when they hear of
 * it, by their next write-back, or by their reaper.
 */
export const DESTROY = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2], KEYS[4])
  redis.call('SADD', KEYS[3], ARGV[1])
  return 1
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 2 end
return 0`

/**
 * KEYS: the stream's history position, its messages, its channel (they share one hash tag, so that
 * SPUBLISH stays on the slot the script runs on). ARGV: [1] bus message prefix (kind and origin),
 * [2] the message's JSON (an object), [3] a new epoch, [4] size, [5] ttl (ms), [6] '1' for sharded
 * pub/sub, [7] maxBytes, [8] the largest message kept (bytes), [9] the offset's field name, [10] the
 * epoch's, [11] and [12] the publisher's floor: the epoch and offset of the last message it delivered.
 *
 * Stamps the message with the stream's next offset and its epoch (the new one when the history was
 * lost), keeps it unless it is larger than [8] (it still takes its offset: a reader sees the hole),
 * trims the oldest while more than size messages or maxBytes bytes are kept or they are older than
 * ttl, lets both keys expire after ttl of silence, and publishes it: one atomic step, so the order of
 * offsets is the order every node hears. The next offset is never at or below the floor of the same
 * epoch: a Redis that came back from an older snapshot does not hand out offsets members already have.
 * Answers the offset, the epoch and the stamped JSON.
 */
export const HISTORY_PUBLISH = `${NOW}
local size, ttl, maxBytes, largest = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7]), tonumber(ARGV[8])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
if epoch == ARGV[11] and offset < tonumber(ARGV[12]) then offset = tonumber(ARGV[12]) end
offset = offset + 1
local body = string.sub(ARGV[2], 1, -2)
local json = body .. (body == '{' and '"' or ',"') .. ARGV[9] .. '":' .. offset .. ',"' .. ARGV[10] .. '":"' .. epoch .. '"}'
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
if #json <= largest then
  local entry = now .. ' ' .. json
  redis.call('RPUSH', KEYS[2], entry)
  bytes = bytes + #entry
end
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then
    bytes = 0
    break
  end
  if redis.call('LLEN', KEYS[2]) <= size and bytes <= maxBytes and now - tonumber(string.match(head, '^%d+')) < ttl then break end
  redis.call('LPOP', KEYS[2])
  bytes = bytes - #head
end
redis.call('HSET', KEYS[1], 'offset', offset, 'bytes', math.max(bytes, 0))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if ARGV[6] == '1' then redis.call('SPUBLISH', KEYS[3], ARGV[1] .. json) else redis.call('PUBLISH', KEYS[3], ARGV[1] .. json) end
return { offset, epoch, json }`

/**
 * KEYS: the stream's history position, its messages. ARGV: a new epoch, or the unstarted one for a
 * stream that only a write starts (a visitor's pushes), ttl (ms), which messages: '0' none, '1' all,
 * '2' those after the position in [4] (epoch) and [5] (offset), when it is of the current epoch.
 * Answers the stream's epoch (starting a history, with the new one, when it has none), the offset of
 * its latest message, then Redis's clock (ms) and the messages asked for, oldest first (after a
 * position: the last ones, as many as offsets came since, so that a hole shows).
 */
export const HISTORY_READ = `${NOW}
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  if epoch == '${UNSTARTED_EPOCH}' then return { epoch, '0', tostring(now) } end
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local result = { epoch, tostring(offset), tostring(now) }
local first = nil
if ARGV[3] == '1' then first = 0 end
if ARGV[3] == '2' and epoch == ARGV[4] and offset > tonumber(ARGV[5]) then first = tonumber(ARGV[5]) - offset end
if first then
  for _, entry in ipairs(redis.call('LRANGE', KEYS[2], first, -1)) do table.insert(result, entry) end
end
return result`

/**
 * KEYS: the stream's history position. ARGV: an epoch, an offset: a node's floor after an outage.
 * Raises the stream's offset to the floor when it is of that epoch and below it (Redis came back from
 * a snapshot older than what the node delivered), so that no offset is handed out twice.
 */
export const HISTORY_FLOOR = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'offset') or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[2])
return 1`
