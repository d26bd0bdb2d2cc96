/**
 * `npm run build`, second half: the browser builds of lib/client/, an IIFE that sets the global
 * `ActionheroClient`, readable and minified, and the default setup's Primus library, minified. The
 * server writes them after its Primus library at every boot (lib/client-bundle.ts), so nothing
 * compiles TypeScript at runtime, and esbuild and terser stay dev tools.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { build, type BuildOptions } from 'esbuild'
import { minify } from 'terser'
import { BROWSER_BUILDS, PATHNAME_MARKER, PREBUILT_LIBRARY, type PrebuiltLibrary } from '../lib/client-bundle.js'
import { DEFAULT_SERVER_OPTIONS } from '../lib/options.js'
import { createPrimus } from '../lib/primus.js'

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

// The library as the plugin's default setup builds it, with a marker where the pathname goes: any
// prefix or `server.pathname` still finds it prebuilt.
const primus = createPrimus({ ...DEFAULT_SERVER_OPTIONS, pathname: PATHNAME_MARKER })
const library = primus.library()
primus.destroy({ close: false })
const { code } = await minify(library, { compress: true, mangle: true, format: { comments: false } })
if (code === undefined || !code.includes(PATHNAME_MARKER)) throw new Error('terser lost the Primus library\'s pathname')
const prebuilt: PrebuiltLibrary = { library, minified: code }
await writeFile(new URL(`../${PREBUILT_LIBRARY}`, import.meta.url), JSON.stringify(prebuilt))
