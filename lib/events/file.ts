/**
 * The `file` event: a file of the public folder, sent over the socket (PROTOCOL.md 3.4).
 */
import type { EventHandler } from '../dispatch.js'
import type { PublicFile } from '../files.js'
import { fileChannel, isTraced, trace, type FileTraceContext } from '../observability/tracing.js'
import { replyFile } from '../reply.js'

const file: EventHandler = async (request, server) => {
  const { connection } = request
  // A read still queued when its connection leaves is dropped at its turn: nothing is opened for it.
  const readFile = (): Promise<PublicFile | string | null> => server.publicFolder.read(request.message.file, () => connection.open)
  const read = await (isTraced(fileChannel) ? trace(fileChannel, { connectionId: connection.id }, readFile, settleFile) : readFile())
  if (read !== null) replyFile(request, read)
}

/** A file the folder refused (not found, too large...) is the caller's mistake; a dropped read is no failure. */
function settleFile (read: PublicFile | string | null, context: FileTraceContext): void {
  context.outcome = typeof read === 'string' ? 'refused' : 'ok'
  if (typeof read === 'string') context.error = new Error(read)
}

export const fileEvents = { file }
