/**
 * Presence test helpers (issue 22): package clients that are one visitor (a fingerprint cookie) and
 * record the presence changes they hear, and a check that a client's list is the truth.
 */
import type { TestContext } from 'node:test'
import { ActionheroClient, type ClientOptions, type PresenceChange } from '../lib/client/node.js'
import { fingerprintKey } from '../lib/rooms/presence.js'
import { waitFor } from './helpers.js'

/** The fingerprints of the visitors made here, by their presence keys: the tests speak of them by name. */
const names = new Map<string, string>()

/** The name of a presence key: the fingerprint it hashes, when a visitor of these helpers has it. */
export function nameOf (key: string): string {
  return names.get(key) ?? key
}

export interface Visitor extends ActionheroClient {
  /** `event name` of every presence change heard (the key by name: `nameOf`) (`list` for a list taken from a reply), in order. */
  heard: string[]
}

/** A connected client of `url` whose fingerprint is `fingerprint`, disconnected when the test ends. */
export async function visitor (t: TestContext, url: string, fingerprint: string, options: ClientOptions = {}): Promise<Visitor> {
  names.set(fingerprintKey(fingerprint), fingerprint)
  const client = Object.assign(new ActionheroClient({ url, transport: { headers: { cookie: `sessionID=${fingerprint}` } }, reconnect: { min: 20, max: 100, retries: 1000 }, ...options }), { heard: [] as string[] })
  client.on('presence', (change: PresenceChange) => client.heard.push(change.event === 'list' ? `list ${change.room}` : `${change.event} ${nameOf(change.key)}`))
  t.after(() => client.disconnect())
  await client.connect()
  return client
}

/** The presence keys in the client's list of `room`, by name, sorted; null without a list. */
export function keysOf (client: ActionheroClient, room: string): string[] | null {
  const list = client.presence(room)
  return list === null ? null : Object.keys(list).map(nameOf).sort()
}

/** Waits until every client's list of `room` holds exactly `keys`. */
export async function listsAre (clients: readonly ActionheroClient[], room: string, keys: readonly string[], timeout = 5000): Promise<void> {
  const expected = JSON.stringify([...keys].sort())
  try {
    await waitFor(() => clients.every((client) => JSON.stringify(keysOf(client, room)) === expected), timeout)
  } catch (error) {
    const seen = clients.map((client) => `${String(client.id)}: ${JSON.stringify(keysOf(client, room))}`).join('; ')
    throw new Error(`lists of ${room} are not ${expected} within ${timeout} ms: ${seen}`, { cause: error })
  }
}
