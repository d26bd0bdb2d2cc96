/**
 * The public files at `publicPrefix`, with @fastify/static, in a child context of their own
 * (`decorateReply: false`), so that an app may register its own @fastify/static next to it: the
 * folder the browser client is written to first, then `publicDir` (when there is one).
 */
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

export interface PublicFilesOptions {
  /** The folders served, the first that has a file answering; existing folders only. */
  roots: string[]
  /** The URL prefix (not `prefix`, which `register` would apply a second time). */
  publicPrefix: string
}

export const publicFiles: FastifyPluginAsync<PublicFilesOptions> = async (fastify, { roots, publicPrefix }) => {
  if (roots.length === 0) return
  await fastify.register(fastifyStatic, {
    root: roots,
    prefix: publicPrefix,
    decorateReply: false,
    // The client file is rebuilt at every boot: browsers must revalidate it (ETag, Last-Modified)
    // rather than keep a copy that the next boot made stale.
    cacheControl: false,
    setHeaders: (reply) => { reply.header('cache-control', 'no-cache') }
  })
}
