/**
 * The sequencer (lib/rooms/sequencer.ts) on its own: whichever way a stream's messages come (the
 * channel, or the answer of this node's own publish), each is delivered once, in offset order; a gap
 * the channel proves is read from the history at once, one of this node's own after `timeout`; what
 * the history cannot cover is reported as lost, and delivery goes on from its position.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { HistoryPosition } from '../lib/rooms/history.js'
import { Sequencer, type HistoryRead } from '../lib/rooms/sequencer.js'
import { waitFor } from './helpers.js'

interface Item { epoch: string, offset: number }

/** A stream's history as a test sets it: what it holds (offsets), and its position. */
function setup ({ timeout = 50, held = [] as number[], epoch = 'e1', failReads = 0 } = {}) {
  const delivered: Item[] = []
  const lost: HistoryPosition[] = []
  const reads: HistoryPosition[] = []
  const failures: unknown[] = []
  const history = { epoch, held, failReads }
  const sequencer = new Sequencer<Item>({
    positionOf: (item) => item,
    deliver: (_key, item) => delivered.push(item),
    read: async (_key, after): Promise<HistoryRead<Item>> => {
      reads.push(after)
      if (history.failReads > 0) {
        history.failReads--
        throw new Error('Redis is away')
      }
      const position = { epoch: history.epoch, offset: Math.max(0, ...history.held) }
      if (after.epoch !== history.epoch) return { items: null, position }
      const items = history.held.filter((offset) => offset > after.offset).map((offset) => ({ epoch: history.epoch, offset }))
      const complete = items.every((item, index) => item.offset === after.offset + 1 + index)
      return { items: complete ? items : null, position }
    },
    lost: (_key, position) => lost.push(position),
    timeout,
    failed: (error) => failures.push(error)
  })
  sequencer.follow('room', { epoch, offset: 0 })
  const offsets = (): number[] => delivered.map((item) => item.offset)
  return { sequencer, delivered, offsets, lost, reads, failures, history }
}

const at = (offset: number, epoch = 'e1'): Item => ({ epoch, offset })

test('in order from the channel: each delivered at once; repeats (a publisher\'s own coming back) dropped', () => {
  const { sequencer, offsets, reads } = setup()
  sequencer.receive('room', at(1), false)
  for (const offset of [1, 2, 3]) sequencer.receive('room', at(offset), true)
  sequencer.receive('room', at(2), false)
  assert.deepEqual(offsets(), [1, 2, 3])
  assert.deepEqual(reads, [], 'no history read')
  assert.deepEqual(sequencer.position('room'), { epoch: 'e1', offset: 3 })
})

test('this node\'s own message ahead of the channel waits for the channel, which fills the gap: no read', async () => {
  const { sequencer, offsets, reads } = setup({ timeout: 100 })
  sequencer.receive('room', at(3), false)
  assert.deepEqual(offsets(), [])
  sequencer.receive('room', at(1), true)
  sequencer.receive('room', at(2), true)
  sequencer.receive('room', at(3), true)
  assert.deepEqual(offsets(), [1, 2, 3])
  await new Promise((resolve) => setTimeout(resolve, 150))
  assert.deepEqual(reads, [], 'the timer was cleared')
})

test('a gap the channel proves (it brought what follows) is read from the history at once', async () => {
  const { sequencer, offsets, reads } = setup({ timeout: 60_000, held: [1, 2, 3, 4] })
  sequencer.receive('room', at(1), true)
  sequencer.receive('room', at(4), true)
  await waitFor(() => offsets().length === 4, 2000)
  assert.deepEqual(offsets(), [1, 2, 3, 4])
  assert.deepEqual(reads, [{ epoch: 'e1', offset: 1 }])
})

test('this node\'s own message and a silent channel: the history is read after the timeout', async () => {
  const { sequencer, offsets, reads } = setup({ timeout: 30, held: [1, 2] })
  sequencer.receive('room', at(2), false)
  await waitFor(() => offsets().length === 2, 2000)
  assert.deepEqual(offsets(), [1, 2])
  assert.deepEqual(reads, [{ epoch: 'e1', offset: 0 }])
})

test('a gap the history cannot cover is reported lost once, and delivery goes on after it', async () => {
  // Offset 2 was never kept (too large), offsets 3 and 4 were.
  const { sequencer, offsets, lost } = setup({ held: [1, 3, 4] })
  sequencer.receive('room', at(1), true)
  sequencer.receive('room', at(3), true)
  sequencer.receive('room', at(4), true)
  await waitFor(() => lost.length === 1, 2000)
  assert.deepEqual(lost, [{ epoch: 'e1', offset: 2 }], 'lost up to the gap\'s end')
  sequencer.receive('room', at(5), true)
  assert.deepEqual(offsets(), [1, 3, 4, 5], 'what was held beyond it is delivered')
})

test('a gap the history cannot cover, with nothing held beyond it: delivery goes on from the history\'s position', async () => {
  const { sequencer, offsets, lost, history } = setup({ timeout: 20, held: [1] })
  sequencer.receive('room', at(1), true)
  history.held = [5, 6]
  sequencer.receive('room', at(3), false)
  sequencer.receive('room', at(3), true)
  await waitFor(() => lost.length === 1, 2000)
  assert.deepEqual(lost, [{ epoch: 'e1', offset: 2 }])
  history.epoch = 'e2'
  history.held = [1]
  sequencer.receive('room', at(5), true)
  await waitFor(() => lost.length === 2, 2000)
  assert.deepEqual(lost[1], { epoch: 'e2', offset: 1 }, 'the history has another epoch now: what was held of the old one is dropped')
  assert.deepEqual(offsets(), [1, 3])
})

test('a catch-up after the subscriber came back reads what was missed; what comes meanwhile waits behind it', async () => {
  const { sequencer, offsets, reads } = setup({ held: [1, 2, 3] })
  sequencer.receive('room', at(1), true)
  sequencer.catchUp('room')
  sequencer.receive('room', at(4), true)
  await waitFor(() => offsets().length === 4, 2000)
  assert.deepEqual(offsets(), [1, 2, 3, 4])
  assert.ok(reads.length >= 1)
})

test('a new epoch on the channel starts a new sequence; with something missing in the old one it is reported lost', async () => {
  const { sequencer, offsets, lost } = setup({ timeout: 60_000 })
  sequencer.receive('room', at(1), true)
  sequencer.receive('room', at(1, 'e2'), true)
  sequencer.receive('room', at(2, 'e2'), true)
  assert.deepEqual(lost, [], 'the old history expired after silence: nothing missing')
  sequencer.receive('room', at(4, 'e2'), false)
  sequencer.receive('room', at(1, 'e3'), true)
  assert.deepEqual(lost, [{ epoch: 'e3', offset: 0 }], 'e2 was waiting for offset 3')
  assert.deepEqual(offsets(), [1, 1, 2, 1])
})

test('a failed history read is tried again after the timeout', async () => {
  const { sequencer, offsets, failures } = setup({ timeout: 20, held: [1, 2], failReads: 2 })
  sequencer.receive('room', at(2), true)
  await waitFor(() => offsets().length === 2, 2000)
  assert.equal(failures.length, 2)
  assert.deepEqual(offsets(), [1, 2])
})

test('nothing is delivered for a stream not followed, or after it is unfollowed; a held message\'s timer goes with it', async () => {
  const { sequencer, offsets, reads } = setup({ timeout: 20 })
  sequencer.receive('other', at(1), true)
  sequencer.receive('room', at(3), false)
  sequencer.unfollow('room')
  await new Promise((resolve) => setTimeout(resolve, 60))
  assert.deepEqual(offsets(), [])
  assert.deepEqual(reads, [])
  assert.equal(sequencer.position('room'), null)
})

test('a stream placed without a position starts from the first message it gets', () => {
  const { sequencer, offsets } = setup()
  sequencer.follow('fresh')
  assert.equal(sequencer.position('fresh'), null)
  sequencer.receive('fresh', at(7), true)
  sequencer.receive('fresh', at(8), false)
  assert.deepEqual(offsets(), [7, 8])
})
