/**
 * The pure halves of strict input and validation errors: closing a schema
 * (`additionalProperties: false` where nothing else is said) and putting Ajv's errors
 * into words, for any data against the API's own schemas.
 */
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { ConversationFilterSchema } from '../../src/api/conversation-filter.js';
import { SendReplyBody } from '../../src/api/routes/messages.js';
import { SmtpRelayInput } from '../../src/api/schemas.js';
import { closeSchema } from '../../src/api/strict-input.js';
import { describeErrors, summarize } from '../../src/api/validation-errors.js';
import { MAX_LISTED_ERRORS } from '../../src/errors.js';

const RAW_AJV = /must have required property|must be equal to one of the allowed values|must NOT have|must match "|must be equal to constant/;

describe('closeSchema', () => {
  it('closes objects at any depth: properties, items and union branches', () => {
    const schema = Type.Object({
      a: Type.Object({ b: Type.String() }),
      list: Type.Array(Type.Object({ c: Type.Integer() })),
      either: Type.Union([Type.Object({ d: Type.Boolean() }), Type.Null()]),
    });
    const closed = closeSchema(schema) as any;
    expect(closed.additionalProperties).toBe(false);
    expect(closed.properties.a.additionalProperties).toBe(false);
    expect(closed.properties.list.items.additionalProperties).toBe(false);
    expect(closed.properties.either.anyOf[0].additionalProperties).toBe(false);
    expect((schema as any).additionalProperties).toBeUndefined(); // the input is left as it was
    expect(closeSchema(schema)).toEqual(closed);
  });

  it('leaves maps, objects that say what else they take, and allOf branches open', () => {
    const schema = {
      type: 'object',
      properties: {
        attributes: Type.Record(Type.String(), Type.String()),
        config: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: true },
        both: { allOf: [{ type: 'object', properties: { p: { type: 'string' } } }, { type: 'object', properties: { q: { type: 'string' } } }] },
      },
    };
    const closed = closeSchema(schema) as any;
    expect(closed.additionalProperties).toBe(false);
    expect(closed.properties.attributes.additionalProperties).toBe((schema.properties.attributes as any).additionalProperties);
    expect(closed.properties.config.additionalProperties).toBe(true);
    expect(closed.properties.both.allOf[0].additionalProperties).toBeUndefined();
    const ajv = new Ajv({ strict: false });
    expect(ajv.validate(closed, { attributes: { any: 'x' }, config: { x: 'a', y: 'b' }, both: { p: 'a', q: 'b' } })).toBe(true);
    expect(ajv.validate(closed, { other: 1 })).toBe(false);
  });
});

describe('describeErrors', () => {
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, coerceTypes: false });
  addFormats.default(ajv);
  const schemas = [
    closeSchema(SendReplyBody), closeSchema(ConversationFilterSchema), closeSchema(SmtpRelayInput),
    closeSchema(Type.Object({ to: Type.Union([Type.String({ format: 'email' }), Type.Array(Type.String({ format: 'email' }), { maxItems: 3 })]), kind: Type.Union([Type.Literal('a'), Type.Literal('b')]) })),
  ].map((s) => ajv.compile({ ...(s as object), $id: undefined }));

  it('puts every failure of any data into words, at most 20 of them, never in Ajv\'s own text', () => {
    const data = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.dictionary(fc.constantFrom('text', 'html', 'media_ids', 'host', 'port', 'to', 'kind', 'label', 'limit', 'archived', 'zz'), fc.jsonValue({ maxDepth: 2 })),
      fc.record({ to: fc.array(fc.oneof(fc.emailAddress(), fc.integer()), { maxLength: 40 }), kind: fc.string() }),
    );
    fc.assert(fc.property(fc.nat({ max: schemas.length - 1 }), data, (i, value) => {
      const validate = schemas[i]!;
      if (validate(value)) return;
      const described = describeErrors(validate.errors!, 'body');
      expect(described.items.length).toBeGreaterThan(0);
      expect(described.items.length).toBeLessThanOrEqual(MAX_LISTED_ERRORS);
      expect(described.total).toBeGreaterThanOrEqual(described.items.length);
      for (const item of described.items) {
        expect(item.param.length).toBeGreaterThan(0);
        expect(item.detail.startsWith(item.param)).toBe(true);
        expect(item.detail).not.toMatch(RAW_AJV);
      }
      expect(new Set(described.items.map((e) => `${e.param}\n${e.detail}`)).size).toBe(described.items.length);
      expect(summarize(described).startsWith(described.items[0]!.detail)).toBe(true);
    }), { numRuns: 300 });
  });

  it('describes a failed union by the branch the value comes closest to, or by what each takes', () => {
    const validate = schemas[3]!;
    const words = (value: unknown) => {
      validate(value);
      return describeErrors(validate.errors!, 'body').items.map((e) => e.detail);
    };
    expect(words({ to: 'nope', kind: 'a' })).toEqual(['to must be an email address']);
    expect(words({ to: ['a@b.test', 'x'], kind: 'a' })).toEqual(['to.1 must be an email address']);
    expect(words({ to: 5, kind: 'c' })).toEqual(['to must be an email address or an array of email addresses', 'kind must be one of: a, b']);
  });
});
