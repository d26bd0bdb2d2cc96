/**
 * The example chat app shows the safe way: a room's member list and its broadcasts are for its
 * members, and `setName` is no target for another site (the gate: POST with JSON, same origin).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildChatApp } from '../example/app.js'
import { rawRequest } from './fixtures/http-request.js'
import { TestClient } from './helpers.js'

async function startChat (t: { after: (fn: () => unknown) => void }): Promise<string> {
  const app = await buildChatApp()
  t.after(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app is not listening on a port')
  return `http://127.0.0.1:${address.port}`
}

test('members and roll: refused to an HTTP caller and to a socket outside the room; a member gets them', async (t) => {
  const url = await startChat(t)
  const outsider = await TestClient.connect(t, url)
  const ada = await TestClient.connect(t, url)
  assert.equal((await ada.action('setName', { name: 'Ada' })).name, 'Ada')
  assert.equal((await ada.request({ event: 'roomAdd', room: 'defaultRoom' })).status, 'OK')

  for (const [action, params] of [['members', { room: 'defaultRoom' }], ['roll', { room: 'defaultRoom', sides: 6 }]] as const) {
    const overHttp = await rawRequest(`${url}/api/${action}`, { method: 'POST', body: JSON.stringify(params), headers: { 'content-type': 'application/json' } })
    assert.deepEqual([overHttp.statusCode, JSON.parse(overHttp.body)], [403, { error: 'this action does not support the web connection type' }], action)
    assert.equal((await outsider.action(action, params)).error, 'not member of room defaultRoom', action)
  }
  // Nothing was broadcast into the room by the outsider: the first roll Ada hears is her own.
  const roll = await ada.action('roll', { room: 'defaultRoom', sides: 6 })
  const heard = await ada.next((message) => message.context === 'user' && (message.message as { rolled?: unknown }).rolled !== undefined)
  assert.deepEqual((heard.message as { rolled: { name: string, roll: number } }).rolled.name, 'Ada')
  assert.equal((heard.message as { rolled: { roll: number } }).rolled.roll, roll.roll)
  const members = await ada.action('members', { room: 'defaultRoom' }) as { members: Array<{ name: string }> }
  assert.deepEqual(members.members.map(({ name }) => name), ['Ada'])
})

test('setName cannot be called from another site: not by a link, not by a form, not by a script of another origin', async (t) => {
  const url = await startChat(t)
  const cookie = 'sessionID=victim'
  const link = await rawRequest(`${url}/api/setName?name=pwned`, { headers: { cookie, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' } })
  assert.equal(link.statusCode, 403)
  const form = await rawRequest(`${url}/api/setName`, { method: 'POST', body: 'name=pwned', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' } })
  assert.equal(form.statusCode, 403)
  const script = await rawRequest(`${url}/api/setName`, { method: 'POST', body: '{"name":"pwned"}', headers: { cookie, 'content-type': 'application/json', origin: 'https://evil.example' } })
  assert.equal(script.statusCode, 403)
  // The visitor's own page can.
  const own = await rawRequest(`${url}/api/setName`, { method: 'POST', body: '{"name":"Ada"}', headers: { cookie, 'content-type': 'application/json', origin: url } })
  assert.deepEqual([own.statusCode, JSON.parse(own.body)], [200, { name: 'Ada' }])
})
