/**
 * Request validation (JSON Schema, Ajv 8). Query strings, path parameters and headers
 * arrive as text, so their values are coerced to the schema's types (`?limit=5` → 5,
 * one `?label=x` → `['x']`); JSON bodies are typed already and are validated as sent,
 * never coerced (`"archived": "true"` is an error, `null` stays `null`).
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const COMMON: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ ...COMMON, ...options });
  addFormats.default(ajv);
  return ajv;
}

/**
 * A Fastify validator compiler with one Ajv instance per kind of input.
 *
 * @returns a compiler for `app.setValidatorCompiler`.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const coercing = makeAjv({ coerceTypes: 'array' });
  const strict = makeAjv({ coerceTypes: false });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}
