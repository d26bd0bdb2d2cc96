/**
 * A small typed event emitter that runs in browsers and in Node.js alike (the client cannot use
 * `node:events`). An `error` nobody listens to is not thrown: a page must not break on a lost socket.
 * It has the methods of the Primus EventEmitter that ActionHero v11's client inherited; unlike v11's,
 * whose listeners lived on a prototype shared by every client, each instance keeps its own.
 */
type Listener<Args extends unknown[]> = (...args: Args) => void

interface Registration {
  // Typed per event by the methods that add and call it.
  readonly listener: unknown
  readonly once: boolean
}

export class Emitter<Events extends { [Event in keyof Events]: unknown[] }> {
  readonly #listeners = new Map<keyof Events, Registration[]>()

  on<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>): this {
    return this.#add(event, listener, false)
  }

  addListener<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>): this {
    return this.#add(event, listener, false)
  }

  once<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>): this {
    return this.#add(event, listener, true)
  }

  off<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>): this {
    const registrations = this.#listeners.get(event)
    const index = registrations?.findIndex((registration) => registration.listener === listener) ?? -1
    if (index >= 0) registrations?.splice(index, 1)
    return this
  }

  removeListener<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>): this {
    return this.off(event, listener)
  }

  removeAllListeners (event?: keyof Events): this {
    if (event === undefined) this.#listeners.clear()
    else this.#listeners.delete(event)
    return this
  }

  listenerCount (event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0
  }

  /** The listeners of `event`, in the order they were added. */
  listeners<Event extends keyof Events> (event: Event): Array<Listener<Events[Event]>> {
    return (this.#listeners.get(event) ?? []).map((registration) => registration.listener as Listener<Events[Event]>)
  }

  /** The events that have listeners. */
  eventNames (): Array<keyof Events> {
    return [...this.#listeners].filter(([, registrations]) => registrations.length > 0).map(([event]) => event)
  }

  /** Calls the listeners of `event` in the order they were added; true when there were any. */
  emit<Event extends keyof Events> (event: Event, ...args: Events[Event]): boolean {
    const registrations = this.#listeners.get(event)
    if (registrations === undefined || registrations.length === 0) return false
    for (const registration of [...registrations]) {
      if (registration.once) this.off(event, registration.listener as Listener<Events[Event]>)
      ;(registration.listener as Listener<Events[Event]>)(...args)
    }
    return true
  }

  #add<Event extends keyof Events> (event: Event, listener: Listener<Events[Event]>, once: boolean): this {
    const registrations = this.#listeners.get(event) ?? []
    registrations.push({ listener, once })
    this.#listeners.set(event, registrations)
    return this
  }
}
