/**
 * A load process: runs one job (one scenario against one target, given as JSON in argv, e.g.
 * `node dist/bench/load/main.js '{"target":"ws","scenario":"roundTrips"}'`) and sends the
 * orchestrator its result. The target server is this process's child. Whatever happens, the
 * job ends with a result, the server is stopped and this process exits, so that every job starts
 * from fresh processes and a broken target fails its job, not the run.
 */
import { CLIENTS } from '../clients/index.js'
import type { Job, JobResult, ScenarioName } from '../config.js'
import { chat } from './chat.js'
import type { ChatSettings } from './chat-plan.js'
import { handshakes } from './handshakes.js'
import { idleMemory } from './idle-memory.js'
import { presence } from './presence.js'
import { roundTrips } from './round-trips.js'
import { say } from './say.js'
import type { Scenario } from './scenario.js'
import { ServerProcess } from './server-process.js'

/** The driver of each scenario. */
const DRIVERS: Record<ScenarioName, Scenario> = {
  roundTrips,
  say1000: say(1000),
  say5000: say(5000),
  idleMemory,
  handshakes,
  chat,
  presence
}

/** The interval of the heartbeat in ws's README ("How to detect and close broken connections"). */
const WS_README_HEARTBEAT_MS = 30_000

/** The chat scenario runs each target with its usual heartbeat, raw ws with the one its README recommends; or with none. */
function heartbeatEnv ({ heartbeats }: ChatSettings): Record<string, string> {
  return heartbeats ? { BENCH_WS_HEARTBEAT_MS: String(WS_README_HEARTBEAT_MS) } : { BENCH_HEARTBEAT: 'off' }
}

let server: ServerProcess | undefined
let finished = false

async function finish (result: JobResult): Promise<void> {
  if (finished) return
  finished = true
  await server?.stop().catch(() => {})
  // Run by hand (no orchestrator), it prints the result.
  if (process.send === undefined) {
    console.log(JSON.stringify(result))
    process.exit(0)
  }
  process.send(result, () => process.exit(0))
}

const fail = (error: unknown): Promise<void> => finish({ ok: false, error: error instanceof Error ? error.message : String(error) })
// A client library that throws from its own event handler still fails only this job.
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
// Without its orchestrator, a job has no one to report to; its server goes with it (it watches its own IPC).
process.on('disconnect', () => process.exit(1))

try {
  const job = JSON.parse(process.argv[2] ?? '') as Job
  server = await ServerProcess.start(job.target, job.chat === undefined ? {} : heartbeatEnv(job.chat))
  await finish({ ok: true, figures: await DRIVERS[job.scenario](server, CLIENTS[job.target](), job) })
} catch (error) {
  await fail(error)
}
