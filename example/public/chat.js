/* global ActionheroClient */
// The chat page: everything it does goes through ActionheroClient (the global of the generated file).
const client = new ActionheroClient()
const element = (id) => document.getElementById(id)
/** Connection id -> name, of the room this page is in. */
const members = new Map()
let room = null
let myName = ''

function showState () {
  element('state').textContent = client.state
  element('state').dataset.state = client.state
}

function addLine (parts, className) {
  const line = document.createElement('li')
  if (className) line.className = className
  for (const [text, partClass] of parts) {
    const part = document.createElement('span')
    part.textContent = text
    if (partClass) part.className = partClass
    line.append(part)
  }
  element('messages').append(line)
  line.scrollIntoView({ block: 'end' })
}

const clock = (time) => new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
const addMessage = (name, text, sentAt, mine) => addLine([[clock(sentAt), 'time'], [name, 'name'], [text]], mine ? 'mine' : '')
const addNotice = (text) => addLine([[text]], 'system')

function showMembers () {
  element('room-name').textContent = room ?? 'no room'
  element('members').replaceChildren(...[...members].map(([id, name]) => {
    const item = document.createElement('li')
    item.textContent = id === client.id ? `${name} (you)` : name
    return item
  }))
}

async function refreshMembers () {
  const reply = await client.action('members', { room })
  if (reply.error) return addNotice(reply.error)
  members.clear()
  for (const member of reply.members) members.set(member.id, member.name)
  showMembers()
}

for (const event of ['connected', 'disconnected', 'reconnecting', 'reconnect', 'timeout']) client.on(event, showState)
client.on('welcome', ({ welcome }) => addNotice(welcome))
client.on('disconnected', () => addNotice('Connection lost…'))
// The client has joined its room again by now. The server may be a new one, which does not know
// this visitor's name yet; and who is there may have changed meanwhile.
client.on('reconnect', async () => {
  addNotice('Reconnected')
  if (myName) await client.action('setName', { name: myName })
  if (room !== null) await refreshMembers()
})

client.on('say', ({ room: where, from, message, sentAt }) => {
  if (where !== room) return
  if (from !== 0) return addMessage(message.name, message.text, sentAt, false)
  // Notices from the server (`from: 0`).
  if (message.joined) {
    members.set(message.joined.id, message.joined.name)
    showMembers()
    addNotice(`${message.joined.name} joined`)
  } else if (message.named) {
    members.set(message.named.id, message.named.name)
    showMembers()
  } else if (message.left) {
    const name = members.get(message.left.id)
    members.delete(message.left.id)
    showMembers()
    if (name && message.left.id !== client.id) addNotice(`${name} left`)
  } else if (message.rolled) {
    addNotice(`${message.rolled.name} rolled a die: ${message.rolled.roll}`)
  } else {
    addNotice(String(message))
  }
})

element('join-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const named = await client.action('setName', { name: element('name').value.trim() })
  if (named.error) return addNotice(named.error)
  myName = named.name
  const next = element('room').value
  if (room !== null && room !== next) await client.roomLeave(room)
  const joined = await client.roomAdd(next)
  if (joined.error && joined.error !== 'connection already in this room') return addNotice(joined.error)
  room = next
  for (const id of ['text', 'send', 'roll']) element(id).disabled = false
  element('text').placeholder = `Say something in ${room}`
  element('text').focus()
  await refreshMembers()
})

element('say-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const text = element('text').value.trim()
  if (!text) return
  element('text').value = ''
  const reply = await client.say(room, text)
  if (reply.error) addNotice(reply.error)
  else addMessage(myName, text, Date.now(), true)
})

element('roll').addEventListener('click', async () => {
  const reply = await client.action('roll', { room, sides: 6 })
  element('last-roll').textContent = reply.error ?? `Your last roll: ${reply.roll} of ${reply.sides}`
})

showState()
client.connect((error) => {
  showState()
  if (error) addNotice(`Could not connect: ${error.message}`)
})
