/**
 * Actions: their definitions, their input validation (JSON Schema compiled once with Ajv, as Fastify
 * does) and their execution, shared by the WebSocket and the HTTP side.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { ERRORS, type ActionDocumentation } from '../types/protocol.js'
import type { Connection } from './connection.js'
import { DuplicateActionError, errorMessage, InvalidActionError, statusCodeOf } from './errors.js'
import { secondsSince, type Metrics } from './observability/metrics.js'
import { actionChannel, isTraced, outcomeOfStatus, trace, UNKNOWN_ACTION, type ActionTraceContext, type TracedTransport } from './observability/tracing.js'
import { isPlainObject } from './options.js'
import type { SchemaType } from './schema-type.js'

export type ConnectionType = 'webSocket' | 'web'

/** The connection of an action called over HTTP. */
export interface WebConnection {
  readonly type: 'web'
  readonly id: string
  readonly remoteIP: string
  readonly remotePort: number
  readonly fingerprint: string | null
  readonly connectedAt: number
  readonly params: Record<string, unknown>
  readonly request: FastifyRequest
  /** What the `authorize` option returned for this request. */
  readonly auth: unknown
}

/** Who called an action: a socket (`type: 'webSocket'`) or an HTTP request (`type: 'web'`). */
export type ActionConnection = Connection | WebConnection

type ObjectSchema = object

/** The params an action receives for its `inputs` schema: declared keys only, as validation keeps only those. */
export type ParamsOf<Schema> = Schema extends ObjectSchema
  ? SchemaType<Schema extends { additionalProperties: unknown } ? Schema : Schema & { readonly additionalProperties: false }>
  : Record<string, never>

export interface ActionDefinition<Params = Record<string, unknown>, Result = unknown> {
  name: string
  description?: string
  /** A JSON Schema of type object for the params; unknown params are removed before `run`. */
  inputs?: object
  /** Connection types that may not call this action, e.g. `['web']` for a socket-only action. */
  blockedConnectionTypes?: ConnectionType[]
  // A method, not a property, so that a definition with precise params fits where any definition is expected.
  run (params: Params, connection: ActionConnection): Result | Promise<Result>
}

/** Gives an action's `run` the params type of its `inputs` (written `as const` or inline). */
export function defineAction<const Schema extends ObjectSchema, Result> (definition: {
  name: string
  description?: string
  inputs: Schema
  blockedConnectionTypes?: ConnectionType[]
  run (params: ParamsOf<Schema>, connection: ActionConnection): Result | Promise<Result>
}): ActionDefinition<ParamsOf<Schema>, Result>
export function defineAction<Result> (definition: ActionDefinition<Record<string, never>, Result>): ActionDefinition<Record<string, never>, Result>
export function defineAction (definition: ActionDefinition): ActionDefinition {
  return definition
}

/** The outcome of running an action: its result, or the error string and the HTTP status that fits it. */
export type ActionOutcome =
  | { ok: true, result: unknown }
  | { ok: false, error: string, statusCode: number }

interface RegisteredAction {
  definition: ActionDefinition
  validate: ValidateFunction | null
  documentation: ActionDocumentation
}

const CONNECTION_TYPES: readonly ConnectionType[] = ['webSocket', 'web']

export class ActionRegistry {
  readonly #actions = new Map<string, RegisteredAction>()
  readonly #ajv: Ajv
  readonly #log: FastifyBaseLogger
  readonly #metrics: Metrics

  constructor (log: FastifyBaseLogger, metrics: Metrics) {
    this.#log = log
    this.#metrics = metrics
    // Fastify's own Ajv settings, so that an action's inputs behave like a route's schema.
    this.#ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false })
    addFormats.default(this.#ajv)
  }

  add (definition: unknown): void {
    const action = checkDefinition(definition)
    if (this.#actions.has(action.name)) throw new DuplicateActionError(action.name)
    this.#actions.set(action.name, {
      definition: action,
      validate: action.inputs === undefined ? null : this.#compile(action),
      documentation: { name: action.name, description: action.description ?? null, inputs: action.inputs ?? null }
    })
  }

  has (name: string): boolean {
    return this.#actions.has(name)
  }

  /** The name traces and metrics give a call of `name`: bounded, since a client chooses the names it calls. */
  #nameOf (name: unknown): string {
    return typeof name === 'string' && this.#actions.has(name) ? name : UNKNOWN_ACTION
  }

  documentation (): Record<string, ActionDocumentation> {
    const documentation: Record<string, ActionDocumentation> = {}
    for (const [name, action] of this.#actions) documentation[name] = action.documentation
    return documentation
  }

  /**
   * Runs action `name` for `connection`. `params` is the caller's own fresh object: the keys that
   * could reach a prototype are removed from it, and validation removes unknown keys, coerces and
   * fills defaults in place. The outcome is there at once when `run` returns a value (or the params
   * are refused), and a Promise when `run` returns one.
   */
  run (name: unknown, params: Record<string, unknown>, connection: ActionConnection): ActionOutcome | Promise<ActionOutcome> {
    if (isTraced(actionChannel)) return this.#traced(name, params, connection)
    // Neither traced nor measured, the call pays two checks; measured only, no object is made for it.
    if (!this.#metrics.enabled) return this.#run(name, params, connection)
    const started = performance.now()
    const outcome = this.#run(name, params, connection)
    if (!(outcome instanceof Promise)) {
      this.#measured(name, connection, outcome, started)
      return outcome
    }
    return outcome.then((settled) => {
      this.#measured(name, connection, settled, started)
      return settled
    })
  }

  #measured (name: unknown, connection: ActionConnection, outcome: ActionOutcome, started: number): void {
    this.#metrics.actionFinished(this.#nameOf(name), transportOf(connection), outcomeOfStatus(outcome.ok ? 200 : outcome.statusCode), secondsSince(started))
  }

  #traced (name: unknown, params: Record<string, unknown>, connection: ActionConnection): ActionOutcome | Promise<ActionOutcome> {
    const context: ActionTraceContext = { action: this.#nameOf(name), transport: transportOf(connection), connectionId: connection.id }
    const started = performance.now()
    return trace(actionChannel, context, () => this.#run(name, params, connection), (outcome) => {
      context.statusCode = outcome.ok ? 200 : outcome.statusCode
      context.outcome = outcomeOfStatus(context.statusCode)
      // An Error (and its stack) only for a subscriber to read.
      if (!outcome.ok) context.error = new Error(outcome.error)
      this.#metrics.actionFinished(context.action, context.transport, context.outcome, secondsSince(started))
    })
  }

  #run (name: unknown, params: Record<string, unknown>, connection: ActionConnection): ActionOutcome | Promise<ActionOutcome> {
    removePrototypeKeys(params)
    const action = typeof name === 'string' ? this.#actions.get(name) : undefined
    if (action === undefined) return this.#failed(name, connection, ERRORS.unknownAction, 404)
    const { definition } = action
    if (definition.blockedConnectionTypes?.includes(connection.type) === true) {
      return this.#failed(definition.name, connection, ERRORS.connectionTypeBlocked(connection.type), 403)
    }
    let input: Record<string, unknown> = {}
    if (action.validate !== null) {
      input = params
      if (!action.validate(input)) return this.#failed(definition.name, connection, describeInputError(action.validate.errors), 400)
    }
    let result: unknown
    try {
      result = definition.run(input, connection)
    } catch (error) {
      return this.#thrown(definition.name, connection, error)
    }
    if (!isThenable(result)) return { ok: true, result }
    return Promise.resolve(result).then((value) => ({ ok: true, result: value }), (error: unknown) => this.#thrown(definition.name, connection, error))
  }

  #thrown (name: string, connection: ActionConnection, error: unknown): ActionOutcome {
    return this.#failed(name, connection, errorMessage(error), statusCodeOf(error) ?? 500, error)
  }

  /**
   * A failed call, logged as Fastify logs a failing route: error level for a 5xx, info for the
   * caller's mistakes; over HTTP with the request's logger (and its reqId).
   */
  #failed (name: unknown, connection: ActionConnection, error: string, statusCode: number, cause?: unknown): ActionOutcome {
    const log = connection.type === 'web' ? connection.request.log : this.#log
    const details = { err: cause, connection: connection.id, action: typeof name === 'string' ? name : null, statusCode }
    if (statusCode >= 500) log.error(details, error)
    else log.info(details, error)
    return { ok: false, error, statusCode }
  }

  #compile (action: ActionDefinition): ValidateFunction {
    const inputs = action.inputs as Record<string, unknown>
    // Undeclared params are removed, not refused, unless the schema says otherwise.
    const schema = 'additionalProperties' in inputs ? inputs : { ...inputs, additionalProperties: false }
    try {
      return this.#ajv.compile(schema)
    } catch (error) {
      throw new InvalidActionError(action.name, `has invalid inputs: ${(error as Error).message}`)
    }
  }
}

function transportOf (connection: ActionConnection): TracedTransport {
  return connection.type === 'web' ? 'http' : 'socket'
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/**
 * Removes, at any depth, the keys through which an `Object.assign(target, params)` or a merge in an
 * action could change a prototype (`__proto__`, `constructor`, `prototype`), as Fastify's JSON parser
 * refuses them over HTTP. JSON.parse makes `__proto__` an own key; a frame can nest one anywhere.
 * `params` is decoded data (a tree: a frame, a query, a body), walked without recursion, so that no
 * nesting depth can overflow the stack. A flat params object, the usual one, costs one pass over its
 * keys and allocates nothing (about 10 ns for `{ action, a, b }`; bench/prototype-keys.ts).
 */
export function removePrototypeKeys (params: Record<string, unknown>): void {
  let pending: object[] | null = null
  let current: object | undefined = params
  while (current !== undefined) {
    if (Array.isArray(current)) {
      for (const item of current as unknown[]) if (typeof item === 'object' && item !== null) (pending ??= []).push(item)
    } else {
      const object = current as Record<string, unknown>
      // for...in, not Object.keys: no array per object (decoded data has no enumerable inherited key).
      for (const key in object) {
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
          delete object[key]
        } else {
          const value = object[key]
          if (typeof value === 'object' && value !== null) (pending ??= []).push(value)
        }
      }
    }
    current = pending?.pop()
  }
}

/** PROTOCOL.md's sentence for the first input that failed validation. */
function describeInputError (errors: ErrorObject[] | null | undefined): string {
  const error = errors?.[0]
  if (error === undefined) return ERRORS.internalError
  const path = error.instancePath.split('/').slice(1).map(decodePointer)
  if (error.keyword === 'required') {
    return ERRORS.requiredParameter([...path, (error.params as { missingProperty: string }).missingProperty].join('.'))
  }
  return ERRORS.invalidParameter(path.length === 0 ? 'params' : path.join('.'), error.message ?? 'is invalid')
}

function decodePointer (segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~')
}

function checkDefinition (definition: unknown): ActionDefinition {
  const name = isPlainObject(definition) && typeof definition.name === 'string' ? definition.name : ''
  if (!isPlainObject(definition)) throw new InvalidActionError(String(definition), 'must be an object { name, run, inputs? }')
  if (name.length === 0) throw new InvalidActionError(name, 'must have a non-empty string "name"')
  if (typeof definition.run !== 'function') throw new InvalidActionError(name, 'must have a "run" function')
  if (definition.description !== undefined && typeof definition.description !== 'string') {
    throw new InvalidActionError(name, '"description" must be a string')
  }
  const { inputs, blockedConnectionTypes } = definition
  if (inputs !== undefined && !(isPlainObject(inputs) && (inputs.type === undefined || inputs.type === 'object'))) {
    throw new InvalidActionError(name, '"inputs" must be a JSON Schema of type object')
  }
  if (blockedConnectionTypes !== undefined && !(Array.isArray(blockedConnectionTypes) &&
      blockedConnectionTypes.every((type) => CONNECTION_TYPES.includes(type)))) {
    throw new InvalidActionError(name, `"blockedConnectionTypes" must be an array of ${CONNECTION_TYPES.map((t) => `"${t}"`).join(', ')}`)
  }
  return definition as unknown as ActionDefinition
}
