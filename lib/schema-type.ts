/**
 * The type of the values a JSON Schema accepts, for the schemas actions declare their inputs with:
 * `type` (one or several of string, number, integer, boolean, null, array with `items`, object with
 * `properties`, `required` and `additionalProperties`), `enum` and `const`; anything else is
 * `unknown`. A property with a `default` is always there, since validation fills it in. Types only,
 * and no dependency: consumers compile without a schema-to-type library.
 */
export type SchemaType<Schema> =
  Schema extends { readonly const: infer Value } ? Value
    : Schema extends { readonly enum: ReadonlyArray<infer Value> } ? Value
      : Schema extends { readonly type: ReadonlyArray<infer Name> } ? TypeNamed<Name, Schema>
        : Schema extends { readonly type: infer Name } ? TypeNamed<Name, Schema>
          : unknown

type TypeNamed<Name, Schema> =
  Name extends 'string' ? string
    : Name extends 'number' | 'integer' ? number
      : Name extends 'boolean' ? boolean
        : Name extends 'null' ? null
          : Name extends 'array' ? (Schema extends { readonly items: infer Items } ? Array<SchemaType<Items>> : unknown[])
            : Name extends 'object' ? ObjectType<Schema>
              : unknown

type ObjectType<Schema> = Schema extends { readonly properties: infer Properties }
  ? Simplify<
    { -readonly [Key in keyof Properties as Key extends Present<Schema, Properties> ? Key : never]: SchemaType<Properties[Key]> } &
    { -readonly [Key in keyof Properties as Key extends Present<Schema, Properties> ? never : Key]?: SchemaType<Properties[Key]> } &
    Additional<Schema>
  >
  : Additional<Schema>

/** The properties always there: the required ones, and those with a default. */
type Present<Schema, Properties> =
  | (Schema extends { readonly required: ReadonlyArray<infer Required> } ? Required : never)
  | { [Key in keyof Properties]: Properties[Key] extends { readonly default: unknown } ? Key : never }[keyof Properties]

type Additional<Schema> =
  Schema extends { readonly additionalProperties: false } ? unknown
    : Schema extends { readonly additionalProperties: infer Extra extends object } ? Record<string, SchemaType<Extra>>
      : Record<string, unknown>

type Simplify<T> = { [Key in keyof T]: T[Key] } & {}
