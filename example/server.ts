/**
 * `npm run example`: the chat app on http://localhost:8080 (or $PORT). Stop it and start it again:
 * the open pages reconnect by themselves and rejoin their rooms.
 */
import { buildChatApp } from './app.js'

const app = await buildChatApp({ logger: true })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
await app.listen({ port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? 'localhost' })
