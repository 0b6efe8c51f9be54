/**
 * The response serializer: fast-json-stringify, given each response schema in a form it
 * writes without validating.
 *
 * fast-json-stringify picks an `anyOf` branch by running each branch's Ajv validator on
 * the value (its `buildOneOf`): every nullable field of every row (`Type.Union([X,
 * Type.Null()])`, with `format: 'date-time'` checked by a regular expression) and every
 * union of string literals (a channel name) costs one to four validator calls. A page of
 * 50 conversations made about 900 of them, and serializing it took twice as long as with
 * the schema below. The schemas that validate requests and document the API
 * (`GET /openapi.json`) are not touched: only the serializer's copy is rewritten.
 */
import fastJsonStringify, { type Options, type Schema } from 'fast-json-stringify';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type SchemaObject = { [key: string]: Json };

/** Keys a string literal's schema may carry besides `const` (TypeBox's `Literal` adds `type`). */
const LITERAL_KEYS = new Set(['const', 'type', 'description', 'title', 'examples']);

const isObject = (v: Json | undefined): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A schema fast-json-stringify writes by its `type` alone: no `anyOf`, `oneOf`, `allOf`, `$ref` or `if`. */
const isPlain = (s: SchemaObject): boolean =>
  typeof s.type === 'string' && s.type !== 'null' && !('anyOf' in s || 'oneOf' in s || 'allOf' in s || '$ref' in s || 'if' in s);

/**
 * A copy of `schema` that serializes every valid value to the same JSON text, with these
 * `anyOf`s rewritten (anywhere in it):
 * - `[X, {type: 'null'}]` (either order), X plain: X with `nullable: true` (written as
 *   `null`, else as X);
 * - string literals only (`[{const: 'a'}, {const: 'b'}]`): `{type: 'string'}`.
 *
 * Other `anyOf`s are kept (their branches rewritten). Values outside the schema may be
 * written where the original threw (a serializer does not validate; handlers produce the
 * values from typed rows).
 *
 * @param schema a JSON Schema (TypeBox's output; its symbol keys are dropped).
 */
export function serializationSchema(schema: unknown): Json {
  return rewrite(JSON.parse(JSON.stringify(schema)) as Json);
}

function rewrite(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewrite);
  if (!isObject(node)) return node;
  const out: SchemaObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = rewrite(value);
  const branches = out.anyOf;
  if (!Array.isArray(branches) || !branches.every(isObject)) return out;
  const { anyOf: _, ...siblings } = out;
  if (branches.length > 0 && branches.every((b) => typeof b.const === 'string' && Object.keys(b).every((k) => LITERAL_KEYS.has(k)))) {
    return { ...siblings, type: 'string' };
  }
  const nonNull = branches.filter((b) => b.type !== 'null');
  const onlyNull = branches.filter((b) => b.type === 'null' && Object.keys(b).length === 1);
  if (branches.length === 2 && nonNull.length === 1 && onlyNull.length === 1 && isPlain(nonNull[0]!)) {
    return { ...nonNull[0]!, ...siblings, nullable: true };
  }
  return out;
}

/**
 * Fastify's `schemaController.compilersFactory.buildSerializer`: as Fastify's own
 * (`@fastify/fast-json-stringify-compiler`), on {@link serializationSchema} copies of the
 * route's schema and of the shared schemas (`app.addSchema`).
 */
export function buildSerializer(externalSchemas?: unknown, serializerOpts?: Options) {
  const shared = Object.fromEntries(Object.entries(externalSchemas ?? {}).map(([id, s]) => [id, serializationSchema(s)]));
  return ({ schema }: { schema?: unknown }): ((doc: unknown) => string) => {
    const rewritten = serializationSchema(schema);
    const own = isObject(rewritten) ? rewritten.$id : undefined;
    // A route's schema that is itself a shared one is not also passed as external (as Fastify's does).
    const external = typeof own === 'string' && own in shared ? Object.fromEntries(Object.entries(shared).filter(([id]) => id !== own)) : shared;
    return fastJsonStringify(rewritten as unknown as Schema, { ...serializerOpts, schema: external as unknown as Record<string, Schema> });
  };
}
