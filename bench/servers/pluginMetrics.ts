/**
 * The plugin with its Prometheus metrics on (`metrics: true`), next to the `plugin` target, so that one
 * run shows what the metrics cost round trips and a `say`.
 */
process.env.BENCH_METRICS = 'true'
await import('./plugin.js')
