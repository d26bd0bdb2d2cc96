/**
 * The client's presence lists (lib/client/presence.ts), the orders a cluster can deliver in: changes
 * before the `roomAdd` reply wait for its list, a change at or below the list's version is in it, and
 * a change that comes after a newer one of its key (decided on another node) is set aside.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PresenceLists } from '../lib/client/presence.js'
import type { PresenceMessage } from '../types/protocol.js'

const ROOM = 'lobby'

function change (event: PresenceMessage['event'], key: string, version: number, id = `${key}-tab`, details: Record<string, unknown> = {}): PresenceMessage {
  return { context: 'presence', room: ROOM, event, key, member: { id, joinedAt: 1, ...details }, version }
}

const keys = (lists: PresenceLists): string[] => Object.keys(lists.view(ROOM) ?? {}).sort()

test('changes that come before the list wait for it; those at or below its version are in it already', { timeout: 5000 }, () => {
  const lists = new PresenceLists()
  lists.expect(ROOM)
  assert.equal(lists.view(ROOM), null, 'no list yet')
  assert.equal(lists.apply(change('join', 'ann', 5)), false, 'held')
  assert.equal(lists.apply(change('join', 'bob', 7)), false, 'held')
  assert.equal(lists.listed(ROOM, { version: 6, keys: { ann: [{ id: 'ann-tab', joinedAt: 1 }], cy: [{ id: 'cy-tab', joinedAt: 1 }] } }), true)
  assert.deepEqual(keys(lists), ['ann', 'bob', 'cy'], 'ann\'s join (5) was in the list; bob\'s (7) came after it')
  assert.equal(lists.apply(change('leave', 'cy', 6)), false, 'at the list\'s version: in it already')
  assert.deepEqual(keys(lists), ['ann', 'bob', 'cy'])
})

test('a join that comes after a newer leave of its key is set aside; an update sets the member in its key', { timeout: 5000 }, () => {
  const lists = new PresenceLists()
  lists.expect(ROOM)
  lists.listed(ROOM, { version: 10, keys: {} })
  assert.equal(lists.apply(change('leave', 'ann', 12)), true, 'a leave of a key not listed is remembered')
  assert.equal(lists.apply(change('join', 'ann', 11)), false, 'decided before the leave, on another node: set aside')
  assert.deepEqual(keys(lists), [])
  assert.equal(lists.apply(change('join', 'ann', 13)), true)
  assert.equal(lists.apply(change('update', 'ann', 14, 'ann-tab', { name: 'Ann' })), true)
  assert.deepEqual(lists.view(ROOM), { ann: [{ id: 'ann-tab', joinedAt: 1, name: 'Ann' }] }, 'one entry, the member replaced')
  assert.equal(lists.apply(change('update', 'ann', 14, 'ann-tab', { name: 'stale' })), false, 'a repeat changes nothing')
})

test('a reply without a list (no presence, or not joined) drops the room; forget drops it too', { timeout: 5000 }, () => {
  const lists = new PresenceLists()
  lists.expect(ROOM)
  assert.equal(lists.listed(ROOM, undefined), false)
  assert.equal(lists.view(ROOM), null)
  assert.equal(lists.apply(change('join', 'ann', 1)), false, 'a room without a list ignores changes')
  lists.expect(ROOM)
  lists.listed(ROOM, { version: 1, keys: { ann: [{ id: 'a', joinedAt: 1 }] } })
  assert.deepEqual(keys(lists), ['ann'])
  lists.expect(ROOM)
  assert.deepEqual(keys(lists), ['ann'], 'while a rejoin\'s reply is awaited, the list known shows')
  lists.listed(ROOM, { version: 2, keys: {} })
  assert.deepEqual(keys(lists), [], 'the reply\'s list replaces it')
  lists.forget(ROOM)
  assert.equal(lists.view(ROOM), null)
  assert.equal(lists.listed(ROOM, { version: 'x', keys: null }), false, 'a malformed list is none')
})
