import { expect, test } from 'tstyche'
import {
  ActionheroClient, type ActionResponse, type ChatMessage, type ClientEvents, type ClientState, type ConnectionDetails, type FileResponse,
  type PushesRecovery, type PushMessage, type ReconnectAttempt, type RefreshedCredentials, type RoomAddResponse, type RoomMembers, type RoomRecovery,
  type VerbResponse
} from 'fastify-actionhero-ws/client'
import type { PrimusSocket } from 'fastify-actionhero-ws'

const client = new ActionheroClient({ url: 'http://localhost:8080', timeout: 5000, reconnect: { min: 100 } })

test('fastify-actionhero-ws/client is typed: options, properties and events', () => {
  expect(new ActionheroClient()).type.toBe<ActionheroClient>()
  expect(new ActionheroClient({ url: 8080 })).type.toRaiseError()
  expect(new ActionheroClient({ apiPath: false })).type.not.toRaiseError()
  expect(client.state).type.toBe<ClientState>()
  expect(client.rooms).type.toBe<string[]>()
  expect(client.details).type.toBe<ConnectionDetails | null>()
  expect(client.on('say', (message) => { expect(message).type.toBe<ChatMessage>() })).type.toBe<ActionheroClient>()
  expect(client.on('reconnecting', (attempt) => { expect(attempt).type.toBe<ReconnectAttempt>() })).type.toBe<ActionheroClient>()
  expect(client.on('recovered', (recovery) => { expect(recovery).type.toBe<RoomRecovery>() })).type.toBe<ActionheroClient>()
  expect(client.on('pushesRecovered', (recovery) => { expect(recovery).type.toBe<PushesRecovery>() })).type.toBe<ActionheroClient>()
  expect<PushMessage['pushOffset']>().type.toBe<number | undefined>()
  expect<ChatMessage['offset']>().type.toBe<number | undefined>()
  expect<ChatMessage['epoch']>().type.toBe<string | undefined>()
  expect(client.on('connected', () => {})).type.not.toRaiseError()
  expect(client.on('sayy', () => {})).type.toRaiseError()
  expect(client.on('closed', (closure) => { expect(closure).type.toBe<{ reason: string, reconnect: boolean }>() })).type.toBe<ActionheroClient>()
  expect(new ActionheroClient({ refresh: async () => ({ token: 'fresh' }) })).type.toBe<ActionheroClient>()
  expect(new ActionheroClient({ refresh: () => 'token' })).type.toRaiseError()
  expect(client.refresh()).type.toBe<Promise<VerbResponse<RefreshedCredentials>>>()
})

test('every method gives a Promise without a callback, and nothing with one', () => {
  expect(client.connect()).type.toBe<Promise<VerbResponse<ConnectionDetails>>>()
  expect(client.connect((error, details) => {
    expect(error).type.toBe<Error | null>()
    expect(details.data).type.toBe<ConnectionDetails | undefined>()
  })).type.toBe<void>()
  expect(client.action<{ sum: number }>('add', { a: 1, b: 2 })).type.toBe<Promise<ActionResponse<{ sum: number }>>>()
  expect(client.action('add', (response) => { expect(response.error).type.toBe<string | undefined>() })).type.toBe<void>()
  expect(client.action('add', { a: 1 }, () => {})).type.toBe<void>()
  expect(client.say('defaultRoom', { any: 'JSON' })).type.toBe<Promise<VerbResponse>>()
  expect(client.detailsView((error, response) => {
    expect(error).type.toBe<Error | null>()
    expect(response.data?.fingerprint).type.toBe<string | null | undefined>()
  })).type.toBe<void>()
  expect(client.roomView('defaultRoom')).type.toBe<Promise<VerbResponse<RoomMembers>>>()
  expect(client.roomAdd('defaultRoom')).type.toBe<Promise<RoomAddResponse>>()
  expect<RoomAddResponse['recovered']>().type.toBe<boolean | undefined>()
  expect<RoomAddResponse['epoch']>().type.toBe<string | undefined>()
  expect<RoomAddResponse['offset']>().type.toBe<number | undefined>()
  expect(client.file('index.html')).type.toBe<Promise<FileResponse>>()
  expect(client.disconnect()).type.toBe<void>()
})

test('an action reply has the fields of its result, maybe', async () => {
  const { sum, error, messageCount } = await client.action<{ sum: number }>('add', { a: 1, b: 2 })
  expect(sum).type.toBe<number | undefined>()
  expect(error).type.toBe<string | undefined>()
  expect(messageCount).type.toBe<number | undefined>()
})

test('ActionHero\'s ways: a Primus socket of the caller\'s, and the EventEmitter methods of v11\'s client', () => {
  const socket = null as unknown as PrimusSocket
  expect(new ActionheroClient({}, socket)).type.toBe<ActionheroClient>()
  expect(new ActionheroClient({}, 'ws://localhost')).type.toRaiseError()
  expect(client.addListener('say', (message) => { expect(message).type.toBe<ChatMessage>() })).type.toBe<ActionheroClient>()
  expect(client.listeners('reconnecting')).type.toBe<Array<(attempt: ReconnectAttempt) => void>>()
  expect(client.eventNames()).type.toBe<Array<keyof ClientEvents>>()
  expect(client.emit('alert', { context: 'alert' })).type.toBe<boolean>()
  expect(client.emit('connected', 'extra')).type.toRaiseError()
  expect(client.emit('sayy')).type.toRaiseError()
})

test('roomView members carry the details the server made for them', async () => {
  const { data } = await client.roomView('defaultRoom')
  const member = data?.members['some-id']
  expect(member?.joinedAt).type.toBe<number | undefined>()
  expect(member?.name).type.toBe<unknown>()
})
