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

/**
 * The most levels of objects and arrays a JSON body (or parsed query) may nest. The
 * deepest documented body nests 3 (`PATCH /v1/contacts/{id}`: `addresses[].address`), a
 * BlueBubbles webhook's payload a few more; deeper is no request of ours, and unbounded
 * depth would reach recursive code (validation, hashing, rendering) with a stack to blow.
 */
export const MAX_JSON_DEPTH = 32;

/** A value met while walking a parsed body: its depth in containers, and how it was reached. */
interface Step {
  readonly value: unknown;
  /** Containers around the value (the body itself is at 0). */
  readonly depth: number;
  readonly parent: Step | null;
  readonly key: string;
}

const isContainer = (v: unknown): v is object => v !== null && typeof v === 'object' && !Buffer.isBuffer(v);

function pathOf(step: Step): string[] {
  const out: string[] = [];
  for (let s: Step | null = step; s?.parent; s = s.parent) out.push(s.key);
  return out.reverse();
}

/**
 * The first problem of a parsed query or JSON body, depth first: a container nested
 * deeper than {@link MAX_JSON_DEPTH}, or a string or object key containing U+0000 (an
 * object's keys are looked at before its values). Walks with an explicit stack (no
 * recursion) and stops at the first problem, so a body nested thousands of levels deep
 * costs {@link MAX_JSON_DEPTH} steps.
 */
function firstProblem(value: unknown): { readonly kind: 'depth' | 'nul'; readonly path: string[] } | null {
  const stack: Step[] = [{ value, depth: 0, parent: null, key: '' }];
  for (let step = stack.pop(); step; step = stack.pop()) {
    const v = step.value;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return { kind: 'nul', path: pathOf(step) };
      continue;
    }
    if (!isContainer(v)) continue;
    if (step.depth >= MAX_JSON_DEPTH) return { kind: 'depth', path: [] };
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    // Pushed last to first, so the first child is walked first. Only what can hold a problem.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      if (typeof child === 'string' || isContainer(child)) stack.push({ value: child, depth: step.depth + 1, parent: step, key });
    }
    const badKey = Array.isArray(v) ? undefined : entries.find(([key]) => key.includes('\u0000'));
    if (badKey) return { kind: 'nul', path: [...pathOf(step), badKey[0]] };
  }
  return null;
}

/**
 * Refuses, with `validation_failed`, query strings and JSON bodies nested deeper than
 * {@link MAX_JSON_DEPTH} (before anything walks them recursively) or containing U+0000:
 * NUL is not text, and PostgreSQL cannot store or compare it (SQLSTATE 22021), so it
 * would otherwise fail deep in a query. Runs first of the `preValidation` hooks, before
 * schema validation.
 */
export function installNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['query', request.query], ['body', request.body]] as const) checkParsed(part, value);
  });
}

/**
 * The guard of {@link installNulGuard} for a value parsed after the hook ran (a body a
 * route parses itself): nesting deeper than {@link MAX_JSON_DEPTH}, or U+0000.
 *
 * @param part `body` or `query`, the `param` of a problem not inside a field.
 * @throws AppError `validation_failed`: for depth with `param` the part (the path into a
 *   body nested thousands deep is no use to name), for NUL naming the first string or key.
 */
export function checkParsed(part: string, value: unknown): void {
  const found = firstProblem(value);
  if (!found) return;
  if (found.kind === 'depth') {
    throw new AppError('validation_failed', `The ${part} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`, {
      param: part,
      fix: `Send the ${part} as documented (GET /openapi.json): no request nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep.`,
    });
  }
  const param = found.path.join('.') || part;
  throw new AppError('validation_failed', `${param} contains a NUL character (U+0000).`, { param });
}

/** {@link checkParsed} under its first name (routes that parse their own body call it). */
export const rejectNul = checkParsed;

/**
 * A `preValidation` hook for POSTs whose body is optional: a bodyless request is
 * validated as `{}` (a JSON schema cannot make the body itself optional).
 */
export async function bodylessAsEmpty(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}
