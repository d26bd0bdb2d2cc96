/**
 * The plugin with room history off (`history: false`), next to the `plugin` target, so that one run
 * shows what history costs a `say`.
 */
process.env.BENCH_HISTORY = 'false'
await import('./plugin.js')
