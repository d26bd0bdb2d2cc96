/**
 * What the bench's entry scripts (`run.ts`, `scale.ts`) share: reading a list option, and describing
 * the machine a run measured.
 */
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os'
import type { Machine } from './summary.js'

/** The names of a comma-separated option, each checked against `known`, in `known`'s order. */
export function pick<Name extends string> (list: string, known: readonly Name[], option: string): Name[] {
  const asked = list.split(',').map((name) => name.trim())
  for (const name of asked) {
    if (!known.includes(name as Name)) throw new Error(`--${option}: unknown "${name}"; known: ${known.join(', ')}`)
  }
  return known.filter((name) => asked.includes(name))
}

export function describeMachine (): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    os: `${osType()} ${release()} ${process.arch}`,
    loadAverage: loadavg()[0] ?? 0
  }
}
