/**
 * `fastify-actionhero-ws/client` as users import it: the built package (npm test builds it first),
 * in Node.js and through a bundler for the browser.
 */
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { build } from 'esbuild'
import { ActionheroClient } from 'fastify-actionhero-ws/client'
import { defineAction } from '../lib/index.js'
import { startApp } from './helpers.js'

test('in Node.js, the package\'s client connects with no more than a url', async (t) => {
  const add = defineAction({ name: 'add', inputs: { type: 'object', properties: { a: { type: 'number' } } } as const, run: ({ a = 0 }) => ({ twice: a * 2 }) })
  const { url } = await startApp(t, { actions: [add] })
  const client = new ActionheroClient({ url })
  t.after(() => client.disconnect())
  const details = await client.connect()
  assert.equal(details.data?.id, client.id)
  // Requests 1 and 2 were the connection's own: pushesSince and detailsView.
  assert.deepEqual(await client.action('add', { a: 21 }), { twice: 42, context: 'response', messageCount: 3, messageId: 3 })
})

test('a bundler for the browser gets the client and the wire types, and nothing of Node.js', async () => {
  const bundle = await build({
    stdin: { contents: "import { ActionheroClient, ERRORS } from 'fastify-actionhero-ws/client'\nglobalThis.x = [ActionheroClient, ERRORS]\n", resolveDir: fileURLToPath(new URL('.', import.meta.url)) },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    logLevel: 'silent'
  })
  const code = bundle.outputFiles[0]?.text ?? ''
  assert.match(code, /the connection closed before a response arrived/)
  assert.doesNotMatch(code, /node:|createRequire/)
  // 11.75 KB before issue 21 added the `closed` event, the `refresh` option and method and their two strings;
  // 14.8 KB once issue 22 added the presence lists (lib/client/presence.ts) and the in-order inbox.
  assert.ok(code.length < 15_500, `the client weighs ${code.length} bytes minified`)
})
