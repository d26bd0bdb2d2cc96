/**
 * The chat scenario's pure part, shared by its driver (`chat.ts`), its member processes
 * (`chat-members.ts`) and the report: the workload's settings, how members and rooms are laid out
 * over load processes, when members speak (a Poisson process), and the messages that carry their
 * send time.
 */
import { CHAT_ROOM_COUNT } from '../config.js'
import { CONNECT_ALL_TIMEOUT } from './scenario.js'

export interface ChatSettings {
  /** Members in all, in rooms of `roomSize`. */
  members: number
  roomSize: number
  /** The mean time between two says of one member: each member says at Poisson-distributed times. */
  meanIntervalMs: number
  /** The length of each said text, in bytes (ASCII). */
  messageBytes: number
  /** Saying before the measured window, so that the servers and the load are past their first messages. */
  warmupMs: number
  /** The measured window: every delivery of a say sent in it counts. */
  windowMs: number
  /** How long after the window the last deliveries may take before they count as lost. */
  drainMs: number
  /** The processes that hold the members, each with whole rooms. */
  loadProcesses: number
  /** Each target's usual heartbeat (true), or none, to see what the heartbeat adds to the tail. */
  heartbeats: boolean
}

export const CHAT: ChatSettings = {
  members: 10_000,
  roomSize: 100,
  meanIntervalMs: 20_000,
  messageBytes: 150,
  warmupMs: 10_000,
  windowMs: 60_000,
  drainMs: 10_000,
  loadProcesses: 4,
  heartbeats: true
}

/** Says per second over all members. */
export function saysPerSecond (settings: ChatSettings): number {
  return settings.members / (settings.meanIntervalMs / 1000)
}

/** Deliveries per second over all members: each say reaches the others of its room. */
export function deliveriesPerSecond (settings: ChatSettings): number {
  return saysPerSecond(settings) * (settings.roomSize - 1)
}

/**
 * The rooms each load process holds (as indexes, `chatRoom(index)`): whole rooms, as evenly as they
 * divide, so that every say's deliveries are counted by the process that sent it.
 */
export function planChatRooms (settings: ChatSettings): number[][] {
  const { members, roomSize, loadProcesses } = settings
  if (!Number.isInteger(members / roomSize)) throw new RangeError(`${members} members do not fill rooms of ${roomSize}`)
  const rooms = members / roomSize
  if (rooms > CHAT_ROOM_COUNT) throw new RangeError(`${rooms} rooms; the servers have ${CHAT_ROOM_COUNT}`)
  if (loadProcesses > rooms) throw new RangeError(`${loadProcesses} load processes for ${rooms} rooms`)
  const plan: number[][] = Array.from({ length: loadProcesses }, () => [])
  for (let room = 0; room < rooms; room++) plan[room % loadProcesses]?.push(room)
  return plan
}

/** A generator of numbers in [0, 1) from a seed (mulberry32), so that a schedule can be replayed. */
export function seededRandom (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/**
 * When a group of members speaks: `members` independent Poisson processes of one say per
 * `meanIntervalMs` each are one Poisson process of `members / meanIntervalMs` says per ms, whose
 * speaker is any member with equal chance. One schedule then serves a whole load process.
 */
export class PoissonSchedule {
  readonly #ratePerMs: number
  readonly #members: number
  readonly #random: () => number
  #due: number

  constructor (members: number, meanIntervalMs: number, start: number, random: () => number) {
    if (members < 1 || meanIntervalMs <= 0) throw new RangeError('a schedule needs members and a positive interval')
    this.#ratePerMs = members / meanIntervalMs
    this.#members = members
    this.#random = random
    this.#due = start + this.#gap()
  }

  /** When the next say is due. */
  get due (): number {
    return this.#due
  }

  /** The member who says the due say (0..members-1); moves the schedule to the next one. */
  take (): number {
    const member = Math.floor(this.#random() * this.#members)
    this.#due += this.#gap()
    return member
  }

  /** An exponential gap: 1 - random() is in (0, 1], so its log is finite. */
  #gap (): number {
    return -Math.log(1 - this.#random()) / this.#ratePerMs
  }
}

/** The time on the machine's monotonic clock, in ms: the same clock in every process, whatever the wall clock does. */
export function monotonicMs (): number {
  const [seconds, nanoseconds] = process.hrtime()
  return seconds * 1000 + nanoseconds / 1e6
}

/** A said text of exactly `bytes` ASCII bytes that starts with its send time: `"<sentAt> chat chat..."`. */
export function chatMessage (sentAt: number, bytes: number): string {
  const head = `${sentAt.toFixed(3)} `
  if (head.length > bytes) throw new RangeError(`a message of ${bytes} bytes cannot carry its send time`)
  return head + 'chat '.repeat(Math.ceil((bytes - head.length) / 5)).slice(0, bytes - head.length)
}

/** The send time a chat message carries, or NaN for a message that is not one. */
export function sentAtOf (message: string): number {
  return Number(message.slice(0, message.indexOf(' ')))
}

/** The longest a chat job may take: connecting, the warm-up, the window and the drain, and a margin. */
export function chatJobTimeoutMs (settings: ChatSettings): number {
  return CONNECT_ALL_TIMEOUT + settings.warmupMs + settings.windowMs + settings.drainMs + 60_000
}
