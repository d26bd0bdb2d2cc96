/**
 * What removing `__proto__`, `constructor` and `prototype` keys from action params costs per call
 * (lib/actions.ts `removePrototypeKeys`, run for every action on the socket and over HTTP), for the
 * typical flat `{ action, a, b }` and for nested params, next to what parsing their frame costs.
 * Run: node --import tsx bench/prototype-keys.ts
 */
import { removePrototypeKeys } from '../lib/actions.js'

const CALLS = 3_000_000
const SHAPES: Record<string, (i: number) => string> = {
  'flat { action, a, b }': (i) => `{"action":"add","a":${i},"b":2}`,
  'nested { action, profile: { name, tags: [2] } }': (i) => `{"action":"save","profile":{"name":"n${i}","tags":["a","b"]}}`
}

function nsPerCall<Input> (inputs: Input[], work: (input: Input) => void): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < CALLS; i++) work(inputs[i % inputs.length] as Input)
  return Number(process.hrtime.bigint() - started) / CALLS
}

for (const [shape, frame] of Object.entries(SHAPES)) {
  const frames = Array.from({ length: 1000 }, (_, i) => frame(i))
  const params = frames.map((text) => JSON.parse(text) as Record<string, unknown>)
  // Warm up, then the best of three: the figure is what the function costs, not the machine's noise.
  nsPerCall(params, removePrototypeKeys)
  const removal = Math.min(...[0, 1, 2].map(() => nsPerCall(params, removePrototypeKeys)))
  const parse = Math.min(...[0, 1, 2].map(() => nsPerCall(frames, (text) => { JSON.parse(text) })))
  console.log(`${shape}: ${removal.toFixed(1)} ns per call (JSON.parse of the frame: ${parse.toFixed(1)} ns)`)
}
