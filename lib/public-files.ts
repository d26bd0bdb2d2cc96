/**
 * `publicDir` served at `publicPrefix` with @fastify/static, in a child context of its own
 * (`decorateReply: false`), so that an app may register its own @fastify/static next to it.
 */
import { mkdir } from 'node:fs/promises'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

export interface PublicFilesOptions {
  root: string
  /** The URL prefix (not `prefix`, which `register` would apply a second time). */
  publicPrefix: string
  /** Create `root` when missing: the client file is about to be written there. */
  createRoot: boolean
}

export const publicFiles: FastifyPluginAsync<PublicFilesOptions> = async (fastify, { root, publicPrefix, createRoot }) => {
  // @fastify/static warns about a missing root, which the boot is about to fill. Should this fail,
  // writing the client at onReady fails too, with the coded error that says why.
  if (createRoot) await mkdir(root, { recursive: true }).catch(() => {})
  await fastify.register(fastifyStatic, {
    root,
    prefix: publicPrefix,
    decorateReply: false,
    // The client file is rebuilt at every boot: browsers must revalidate it (ETag, Last-Modified)
    // rather than keep a copy that the next boot made stale.
    cacheControl: false,
    setHeaders: (response) => { response.setHeader('cache-control', 'no-cache') }
  })
}
