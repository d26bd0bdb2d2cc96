/**
 * The public files at `publicPrefix`, with @fastify/static, in a child context of their own
 * (`decorateReply: false`), so that an app may register its own @fastify/static next to it: the
 * folder the browser client is written to first, then `publicDir` (when there is one). They are
 * confined as the `file` event's reads are (files.ts `publicRealPath`): no dotfile, no symlink out of
 * the folder; what is refused answers as a missing file does (the app's 404), never 403.
 */
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'
import { publicRealPath } from './files.js'

export interface PublicFilesOptions {
  /** The folders served, the first that has a file answering; existing folders only. */
  roots: string[]
  /** The URL prefix (not `prefix`, which `register` would apply a second time). */
  publicPrefix: string
}

/** Thrown by `onFile` for a file the folder must not serve, and answered as "not found". */
class NotPublicFileError extends Error {}

export const publicFiles: FastifyPluginAsync<PublicFilesOptions> = async (fastify, { roots, publicPrefix }) => {
  if (roots.length === 0) return
  // In this context only: the static routes' other errors go on to the app's error handler.
  fastify.setErrorHandler((error, request, reply) => {
    if (error instanceof NotPublicFileError) return reply.callNotFound()
    throw error
  })
  await fastify.register(fastifyStatic, {
    root: roots,
    prefix: publicPrefix,
    decorateReply: false,
    // A request naming a dotfile anywhere in its path is not found before anything is looked up.
    dotfiles: 'ignore',
    // The file @fastify/static picked (an index.html included), checked where its symlinks lead.
    onFile: async (path) => {
      for (const root of roots) if (await publicRealPath(root, path) !== null) return
      throw new NotPublicFileError('not a public file')
    },
    // The client file is rebuilt at every boot: browsers must revalidate it (ETag, Last-Modified)
    // rather than keep a copy that the next boot made stale.
    cacheControl: false,
    setHeaders: (reply) => { reply.header('cache-control', 'no-cache') }
  })
}
