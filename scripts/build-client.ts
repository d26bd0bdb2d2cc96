/**
 * `npm run build`, second half: the browser builds of lib/client/, an IIFE that sets the global
 * `ActionheroClient`, readable and minified. The server writes them after its Primus library at every
 * boot (lib/client-bundle.ts), so nothing compiles TypeScript at runtime and esbuild stays a dev tool.
 */
import { fileURLToPath } from 'node:url'
import { build, type BuildOptions } from 'esbuild'
import { BROWSER_BUILDS } from '../lib/client-bundle.js'

const common: BuildOptions = {
  absWorkingDir: fileURLToPath(new URL('..', import.meta.url)),
  entryPoints: ['lib/client/browser.ts'],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  // Browsers since 2021 (private class members); Primus's own library is ES5.
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning'
}

await build({ ...common, outfile: BROWSER_BUILDS['.js'] })
await build({ ...common, outfile: BROWSER_BUILDS['.min.js'], minify: true })
