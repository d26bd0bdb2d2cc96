/**
 * The example chat app: a page (public/index.html) where visitors pick a name, join a room, see who
 * is there, chat, and roll a die through an action. The visitor's name is kept by fingerprint, so a
 * page that reconnects, or a second tab, keeps it.
 */
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
// In your app: `from 'fastify-actionhero-ws'`.
import actionheroWs, { defineAction, ERRORS, type ActionConnection, type Connection, type DepartedMember } from '../lib/index.js'

export const ROOMS = ['defaultRoom', 'anotherRoom']

export async function buildChatApp ({ logger = false }: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  /** Visitor (fingerprint, else connection id) -> name. */
  const names = new Map<string, string>()
  const visitorOf = (connection: ActionConnection | Connection): string => connection.fingerprint ?? connection.id
  const nameOf = (connectionId: string): string => {
    const connection = app.actionheroWs.connections.get(connectionId)
    return (connection === undefined ? undefined : names.get(visitorOf(connection))) ?? 'someone'
  }

  // A room's members and its broadcasts are for its members: an action that shows or speaks in a room
  // first checks that the caller is in it (a socket that joined it; an HTTP call never is).
  const member = (connection: ActionConnection, room: string): Connection => {
    if (connection.type !== 'webSocket' || !connection.rooms.includes(room)) throw new Error(ERRORS.notMemberOf(room))
    return connection
  }

  // Notices to a room, from the server (`from: 0`); the room may be gone, with nobody left to tell.
  const notify = (room: string, message: object): Promise<void> =>
    app.actionheroWs.rooms.broadcast(room, message).catch(() => {})

  await app.register(actionheroWs, {
    publicDir: fileURLToPath(new URL('public', import.meta.url)),
    rooms: ROOMS,
    actions: [
      defineAction({
        name: 'setName',
        description: 'Sets the name the others see',
        inputs: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 32 } }, required: ['name'] } as const,
        run: async ({ name }, connection) => {
          names.set(visitorOf(connection), name)
          if (connection.type === 'webSocket') {
            await Promise.all(connection.rooms.map((room) => notify(room, { named: { id: connection.id, name } })))
          }
          return { name }
        }
      }),
      defineAction({
        name: 'members',
        description: 'Who is in a room, by name (members only)',
        inputs: { type: 'object', properties: { room: { type: 'string' } }, required: ['room'] } as const,
        blockedConnectionTypes: ['web'],
        run: async ({ room }, connection) => {
          member(connection, room)
          const { members } = await app.actionheroWs.rooms.view(room)
          return { members: Object.keys(members).map((id) => ({ id, name: nameOf(id) })) }
        }
      }),
      defineAction({
        name: 'roll',
        description: 'Rolls a die for the room to see (members only)',
        inputs: { type: 'object', properties: { room: { type: 'string' }, sides: { type: 'integer', minimum: 2, maximum: 100, default: 6 } }, required: ['room'] } as const,
        blockedConnectionTypes: ['web'],
        run: async ({ room, sides }, connection) => {
          const { id } = member(connection, room)
          const roll = 1 + Math.floor(Math.random() * sides)
          await app.actionheroWs.rooms.broadcast(room, { rolled: { id, name: nameOf(id), roll, sides } })
          return { roll, sides }
        }
      })
    ]
  })

  // Who comes and goes, and the sender's name on every chat message. A page that rejoins after a
  // restart has no name here yet: it sets it again, and `setName` tells the room.
  app.actionheroWs.rooms.use({
    name: 'names',
    join: async (connection: Connection, room: string) => {
      const name = names.get(visitorOf(connection))
      if (name !== undefined) await notify(room, { joined: { id: connection.id, name } })
    },
    leave: (member: Connection | DepartedMember, room: string) => notify(room, { left: { id: member.id } }),
    // Server broadcasts (the notices above) pass through too: they are sent as they are.
    onSayReceive: (sender, room, payload) => 'broadcast' in sender
      ? undefined
      : { ...payload, message: { name: nameOf(sender.id), text: String(payload.message) } }
  })

  app.get('/', (request, reply) => reply.redirect('/public/'))
  return app
}
