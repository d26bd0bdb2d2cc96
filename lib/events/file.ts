/**
 * The `file` event: a file of the public folder, sent over the socket (PROTOCOL.md 3.4).
 */
import type { EventHandler } from '../dispatch.js'
import { replyFile } from '../reply.js'

const file: EventHandler = async (request, server) => {
  replyFile(request, await server.publicFolder.read(request.message.file))
}

export const fileEvents = { file }
