/**
 * docs/grafana.json and docs/OPERATING.md's metric list, checked against the metrics the plugin really
 * registers (with Redis, so that redis_up is there too), so that neither can drift from the code.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test, type TestContext } from 'node:test'
import { Registry } from 'prom-client'
import { needRedis, sharedPrefix } from './cluster-helpers.js'
import { startApp } from './helpers.js'

const PREFIX = 'actionhero_ws_'
const HISTOGRAM_SERIES = /_(?:bucket|sum|count)$/

interface Panel {
  title: string
  targets?: Array<{ expr: string }>
}

/** The names of the metrics the plugin registers, with their types. */
async function registered (t: TestContext): Promise<Map<string, string>> {
  const registry = new Registry()
  await startApp(t, { metrics: { registry }, redis: { prefix: sharedPrefix(t) } })
  return new Map(registry.getMetricsAsArray().map((metric) => {
    const { name, type } = metric as unknown as { name: string, type: string }
    return [name, type]
  }))
}

test('every metric the dashboard queries is one the plugin registers (a histogram by its series), and each is on it', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t)) return
  const metrics = await registered(t)
  const dashboard = JSON.parse(await readFile(new URL('../docs/grafana.json', import.meta.url), 'utf8')) as { panels: Panel[] }
  const queried = new Set<string>()
  for (const panel of dashboard.panels) {
    assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" queries something`)
    for (const { expr } of panel.targets ?? []) {
      for (const [name] of expr.matchAll(new RegExp(`${PREFIX}[a-z_]+`, 'g'))) {
        const base = metrics.has(name) ? name : name.replace(HISTOGRAM_SERIES, '')
        assert.ok(metrics.has(base), `panel "${panel.title}" queries ${name}, which the plugin does not register`)
        if (base !== name) assert.equal(metrics.get(base), 'histogram', `${name} is a series of a histogram`)
        queried.add(base)
      }
    }
  }
  assert.deepEqual([...metrics.keys()].filter((name) => !queried.has(name)), [], 'every metric has a panel')
})

test('docs/OPERATING.md lists every metric the plugin registers, with its type, and no other', { timeout: 30_000 }, async (t) => {
  if (!await needRedis(t)) return
  const metrics = await registered(t)
  const guide = await readFile(new URL('../docs/OPERATING.md', import.meta.url), 'utf8')
  const section = guide.slice(guide.indexOf('## Metrics'), guide.indexOf('\n## ', guide.indexOf('## Metrics') + 1))
  const listed = new Map([...section.matchAll(/^\| `([a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map(([, name, type]) => [`${PREFIX}${name}`, type]))
  assert.deepEqual(new Map([...listed].sort()), new Map([...metrics].sort()))
})
