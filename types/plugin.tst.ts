import Fastify from 'fastify'
import { Registry } from 'prom-client'
import { expect, test } from 'tstyche'
import actionheroWs, {
  defineAction,
  type ActionConnection,
  type ActionheroWs,
  type ActionReply,
  type BroadcastSender,
  type Connection,
  type HandshakeRequest,
  type VerbReply,
  type WebConnection
} from '../lib/index.js'
import { createEmitter, type Emitter } from '../lib/emitter.js'
import type { RoomMembers } from '../lib/index.js'

const app = Fastify()

test('register takes the options of docs/DESIGN.md and refuses wrong ones', async () => {
  expect(app.register(actionheroWs, { rooms: ['lobby'], simultaneousActions: 3, apiPath: false })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { welcomeMessage: false, clientJsName: null, allowedOrigins: '*' })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { authorize: async (request: HandshakeRequest) => request.query.token })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { prefix: '/chat', clientDir: 'build/client', fingerprint: { cookie: { secure: 'auto', maxAge: 60 } } })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { fingerprint: { cookie: { signed: true } } })).type.toRaiseError()
  expect(app.register(actionheroWs, { simultaneousActions: 'five' })).type.toRaiseError()
  expect(app.register(actionheroWs, { welcomeMessage: true })).type.toRaiseError()
  // prom-client's own Registry fits the `metrics.registry` the plugin types by shape.
  expect(app.register(actionheroWs, { metrics: { registry: new Registry(), prefix: 'chat_' } })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { metrics: true })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { metrics: { registry: {} } })).type.toRaiseError()
})

test('authorize gets the Fastify request, with the app\'s decorations', () => {
  app.register(actionheroWs, {
    authorize: (request) => {
      expect(request.fingerprint).type.toBe<string | null>()
      expect(request.ip).type.toBe<string>()
      expect(request.query.token).type.toBe<string | string[] | undefined>()
      expect(request.log.info).type.not.toBe<never>()
    }
  })
})

test('app.actionheroWs is typed', () => {
  expect(app.actionheroWs).type.toBe<ActionheroWs>()
  expect(app.actionheroWs.connections).type.toBe<Map<string, Connection>>()
  expect(app.actionheroWs.send('id', { hello: 1 })).type.toBe<Promise<boolean>>()
  expect(app.actionheroWs.sendToFingerprint('fp', { hello: 1 })).type.toBe<Promise<number>>()
  expect(app.actionheroWs.addHook('onConnect', (connection) => {
    expect(connection).type.toBe<Connection>()
  })).type.toBe<ActionheroWs>()
  expect(app.actionheroWs.addHook('onMessage', () => {})).type.toRaiseError()
})

test('kicks, reauthorize and credentials that expire are typed', () => {
  expect(app.actionheroWs.disconnect('id', { reason: 'bye', reconnect: false })).type.toBe<Promise<boolean>>()
  expect(app.actionheroWs.disconnect('id', { reconnect: 'no' })).type.toRaiseError()
  expect(app.actionheroWs.disconnectFingerprint('fp')).type.toBe<Promise<number>>()
  expect(app.actionheroWs.reauthorize({ fingerprint: 'fp' })).type.toBe<Promise<number>>()
  expect(app.actionheroWs.reauthorize('id')).type.toBe<Promise<number>>()
  expect(app.register(actionheroWs, {
    authorize: () => ({ user: 'ada', expiresAt: Date.now() + 60_000 }),
    refresh: async (connection, params) => {
      expect(connection).type.toBe<Connection>()
      expect(params).type.toBe<Record<string, unknown>>()
      return { user: 'ada', expiresAt: Date.now() + 60_000 }
    },
    refreshGrace: 5000
  })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { refreshGrace: '5s' })).type.toRaiseError()
  const connection = app.actionheroWs.connections.get('id')
  if (connection === undefined) return
  expect(connection.expiresAt).type.toBe<number | null>()
  expect(connection.auth).type.toBe<unknown>()
  expect(connection.close('bye', false)).type.toBe<boolean>()
})

test('fastify-actionhero-ws/emitter is typed', () => {
  const emitter = createEmitter({ redis: { url: 'redis://127.0.0.1:6379', prefix: 'app:' }, history: { size: 10 } })
  expect(emitter).type.toBe<Emitter>()
  expect(createEmitter({})).type.toRaiseError()
  expect(createEmitter({ redis: {}, rooms: [] })).type.toRaiseError()
  expect(emitter.say('room', 'hi', 'worker')).type.toBe<Promise<void>>()
  expect(emitter.say('room', 'hi', 1)).type.toRaiseError()
  expect(emitter.broadcast('room', { any: 'json' })).type.toBe<Promise<void>>()
  expect(emitter.send('id', { context: 'alert' })).type.toBe<Promise<boolean>>()
  expect(emitter.sendToFingerprint('fp', { context: 'alert' })).type.toBe<Promise<number>>()
  expect(emitter.disconnect({ fingerprint: 'fp' }, { reason: 'bye' })).type.toBe<Promise<number>>()
  expect(emitter.reauthorize('id')).type.toBe<Promise<number>>()
  expect(emitter.roomView('room')).type.toBe<Promise<RoomMembers>>()
  expect(emitter.close()).type.toBe<Promise<void>>()
})

test('a connection is typed', () => {
  const connection = app.actionheroWs.connections.get('id')
  if (connection === undefined) return
  expect(connection.type).type.toBe<'webSocket'>()
  expect(connection.fingerprint).type.toBe<string | null>()
  expect(connection.rooms).type.toBe<string[]>()
  expect(connection.send({ context: 'alert', message: 'hi' })).type.toBe<boolean>()
  expect(connection.destroy()).type.toBe<void>()
})

test('request.fingerprint is typed in a user\'s handler', () => {
  app.get('/me', async (request) => {
    expect(request.fingerprint).type.toBe<string | null>()
    return { fingerprint: request.fingerprint }
  })
})

test('defineAction gives run the params of its inputs', () => {
  const add = defineAction({
    name: 'add',
    inputs: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' }, label: { type: 'string' } },
      required: ['a', 'b']
    },
    run: (params, connection) => {
      expect(params).type.toBe<{ a: number, b: number, label?: string }>()
      expect(connection).type.toBe<ActionConnection>()
      return { sum: params.a + params.b }
    }
  })
  expect(app.actionheroWs.addAction(add)).type.not.toRaiseError()
  expect(app.register(actionheroWs, { actions: [add] })).type.not.toRaiseError()
})

test('defineAction reads defaults, enums, arrays, nested objects and additionalProperties, without a schema library', () => {
  defineAction({
    name: 'search',
    inputs: {
      type: 'object',
      properties: {
        text: { type: 'string' },
        limit: { type: 'integer', default: 10 },
        order: { enum: ['asc', 'desc'] },
        tags: { type: 'array', items: { type: 'string' } },
        near: { type: 'object', properties: { lat: { type: 'number' }, lon: { type: 'number' } }, required: ['lat', 'lon'] },
        exact: { type: ['boolean', 'null'] }
      },
      required: ['text']
    },
    run: (params) => {
      expect(params).type.toBe<{
        text: string
        limit: number
        order?: 'asc' | 'desc'
        tags?: string[]
        near?: { lat: number, lon: number, [key: string]: unknown }
        exact?: boolean | null
      }>()
    }
  })
  defineAction({
    name: 'open',
    inputs: { type: 'object', properties: { id: { type: 'string' } }, additionalProperties: true },
    run: (params) => {
      expect(params).type.toBe<{ [key: string]: unknown, id?: string }>()
    }
  })
})

test('an action tells socket and web connections apart', () => {
  app.actionheroWs.addAction({
    name: 'where',
    run: (_params, connection) => {
      if (connection.type === 'webSocket') {
        expect(connection).type.toBe<Connection>()
        return { pushed: connection.send({ context: 'alert' }) }
      }
      expect(connection).type.toBe<WebConnection>()
      return { url: connection.request.url }
    }
  })
})

test('action params without defineAction are unknown until checked', () => {
  app.actionheroWs.addAction({
    name: 'loose',
    run: (params) => {
      expect(params).type.toBe<Record<string, unknown>>()
    }
  })
})

test('the wire types describe replies', () => {
  const reply = {} as ActionReply<{ sum: number }>
  expect(reply.sum).type.toBe<number | undefined>()
  expect(reply.messageCount).type.toBe<number>()
  expect(reply.error).type.toBe<string | undefined>()
  const verb = {} as VerbReply<string[]>
  expect(verb.data).type.toBe<string[] | undefined>()
})

test('memberDetails and a broadcast\'s sender in onSayReceive are typed', async () => {
  expect(app.register(actionheroWs, { memberDetails: (connection) => ({ fingerprint: connection.fingerprint }) })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { memberDetails: async () => ({ type: 'websocket' }) })).type.not.toRaiseError()
  expect(app.register(actionheroWs, { memberDetails: () => 'alice' })).type.toRaiseError()
  expect((await app.actionheroWs.rooms.view('lobby')).members.id?.joinedAt).type.toBe<number | undefined>()
  app.actionheroWs.rooms.use({
    name: 'typed',
    onSayReceive: (sender) => {
      expect(sender).type.toBe<Connection | BroadcastSender>()
      if ('broadcast' in sender) expect(sender.id).type.toBe<string | 0>()
      else expect(sender.type).type.toBe<'webSocket'>()
    }
  })
})
