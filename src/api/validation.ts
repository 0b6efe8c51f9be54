/**
 * Request validation (JSON Schema, Ajv 8). Query strings, path parameters and headers
 * arrive as text, so their values are coerced to the schema's types (`?limit=5` → 5,
 * one `?label=x` → `['x']`); JSON bodies are typed already and are validated as sent,
 * never coerced (`"archived": "true"` is an error, `null` stays `null`).
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { AppError } from '../errors.js';

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

/** The path of the first string containing U+0000 in a parsed query or JSON body. */
function nulPath(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], [...path, String(i)]);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const [k, v] of Object.entries(value)) {
      const found = nulPath(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Refuses U+0000 in query strings and JSON bodies with `validation_failed`: it is not
 * text, and PostgreSQL cannot store or compare it (SQLSTATE 22021), so it would
 * otherwise fail deep in a query.
 */
export function installNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['query', request.query], ['body', request.body]] as const) rejectNul(part, value);
  });
}

/**
 * The NUL guard for a value parsed after the hook ran (a body a route parses itself).
 *
 * @throws AppError `validation_failed` naming the first string that contains U+0000.
 */
export function rejectNul(part: string, value: unknown): void {
  const found = nulPath(value);
  if (found) {
    const param = found.join('.') || part;
    throw new AppError('validation_failed', `${param} contains a NUL character (U+0000).`, { param });
  }
}

/**
 * A `preValidation` hook for POSTs whose body is optional: a bodyless request is
 * validated as `{}` (a JSON schema cannot make the body itself optional).
 */
export async function bodylessAsEmpty(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}
