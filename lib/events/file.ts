/**
 * The `file` event: a file of the public folder, sent over the socket (PROTOCOL.md 3.4).
 */
import type { EventHandler } from '../dispatch.js'
import { replyFile } from '../reply.js'

const file: EventHandler = async (request, server) => {
  const { connection } = request
  // A read still queued when its connection leaves is dropped at its turn: nothing is opened for it.
  const read = await server.publicFolder.read(request.message.file, () => connection.open)
  if (read !== null) replyFile(request, read)
}

export const fileEvents = { file }
