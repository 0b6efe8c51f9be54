/**
 * The response serializer's schemas (src/api/serializer.ts): for any value a schema of
 * the API allows, fast-json-stringify writes the same text from the rewritten schema as
 * from the original, and the rewritten schemas of the list page need no validator.
 */
import fc from 'fast-check';
import fastJsonStringify, { type Schema } from 'fast-json-stringify';
import { describe, expect, it } from 'vitest';
import * as schemas from '../../src/api/schemas.js';
import { serializationSchema } from '../../src/api/serializer.js';

type Node = Record<string, unknown>;

/** Values a JSON Schema allows, for the keywords the API's response schemas use. */
function valueOf(schema: Node, depth = 0): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Node[]).map((s) => valueOf(s, depth)));
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  switch (schema.type) {
    case 'null': return fc.constant(null);
    case 'boolean': return fc.boolean();
    case 'integer': return fc.integer();
    case 'number': return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    case 'string':
      return schema.format === 'date-time'
        ? fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString())
        : fc.string({ unit: 'grapheme', maxLength: 12 });
    case 'array': return fc.array(valueOf(schema.items as Node, depth + 1), { maxLength: depth > 2 ? 0 : 3 });
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Node>;
      const required = (schema.required ?? []) as string[];
      const pattern = schema.patternProperties as Record<string, Node> | undefined;
      const record = pattern ? fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), valueOf(Object.values(pattern)[0]!, depth + 1), { maxKeys: 3 }) : fc.constant({});
      const fixed = fc.record(Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, valueOf(s, depth + 1)])), { requiredKeys: required });
      return fc.tuple(record, fixed).map(([r, f]) => ({ ...r, ...f }));
    }
    case undefined: return fc.jsonValue({ maxDepth: 2 }); // {}: any JSON value
    default: throw new Error(`no values for ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

/** The exported object schemas of src/api/schemas.ts, as plain JSON. */
const objectSchemas = Object.entries(schemas)
  .filter(([, s]) => typeof s === 'object' && s !== null && (s as Node).type === 'object')
  .map(([name, s]) => [name, JSON.parse(JSON.stringify(s)) as Node] as const);

const anyOfCount = (node: unknown): number =>
  Array.isArray(node) ? node.reduce((n: number, v) => n + anyOfCount(v), 0)
    : typeof node === 'object' && node !== null
      ? Object.entries(node).reduce((n, [k, v]) => n + (k === 'anyOf' ? 1 : 0) + anyOfCount(v), 0)
      : 0;

describe('serializationSchema', () => {
  it('finds the response schemas to check', () => {
    expect(objectSchemas.map(([name]) => name)).toEqual(expect.arrayContaining(['Conversation', 'Message', 'Problem', 'Contact']));
  });

  it.each(objectSchemas)('property: %s writes every allowed value as the original schema does', (_name, schema) => {
    const original = fastJsonStringify(schema as unknown as Schema);
    const rewritten = fastJsonStringify(serializationSchema(schema) as unknown as Schema);
    fc.assert(fc.property(valueOf(schema), (value) => {
      const text = rewritten(value);
      expect(text).toBe(original(value));
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
    }), { numRuns: 60 });
  });

  it('leaves no anyOf in a page of conversations (each would be a validator call per row)', () => {
    const page = schemas.Page(schemas.Conversation);
    expect(anyOfCount(JSON.parse(JSON.stringify(page)))).toBeGreaterThan(10);
    expect(anyOfCount(serializationSchema(page))).toBe(0);
  });

  it('keeps an anyOf it cannot write by type alone, and does not change the schema it is given', () => {
    const union = { anyOf: [{ type: 'string' }, { type: 'integer' }] };
    const nullableUnion = { anyOf: [union, { type: 'null' }] };
    const before = JSON.stringify(nullableUnion);
    expect(serializationSchema(nullableUnion)).toEqual(nullableUnion);
    expect(JSON.stringify(nullableUnion)).toBe(before);
    expect(serializationSchema({ anyOf: [{ type: 'null' }, { type: 'string', format: 'date-time' }], description: 'd' }))
      .toEqual({ type: 'string', format: 'date-time', description: 'd', nullable: true });
  });
});
