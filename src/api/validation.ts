/**
 * Request validation (JSON Schema, Ajv 8). Query strings, path parameters and headers
 * arrive as text, so their values are coerced to the schema's types (`?limit=5` → 5,
 * one `?label=x` → `['x']`); JSON bodies are typed already and are validated as sent,
 * never coerced (`"archived": "true"` is an error, `null` stays `null`).
 *
 * A request is validated by a validator that stops at the first error (the cost of a
 * valid request, or of an invalid one, stays that of one pass). Only when it fails is
 * the part validated again collecting every error (Ajv `allErrors`, compiled on first
 * need), for api/validation-errors.ts to put into words, and only when the part holds at
 * most {@link MAX_DESCRIBED_VALUES} values: past that, its first error alone is
 * reported, so a megabyte of wrong values cannot make a hundred thousand errors.
 */
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { AppError } from '../errors.js';

const COMMON: Options = { removeAdditional: false, useDefaults: true, verbose: true, strict: false };

/** The most values (objects, arrays and scalars) of a part whose every error is listed. */
export const MAX_DESCRIBED_VALUES = 10_000;

/** Whether `value` holds at most `max` values, containers included (stops counting past it). */
function holdsAtMost(value: unknown, max: number): boolean {
  const stack: unknown[] = [value];
  for (let count = 1; stack.length > 0;) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    const children = Array.isArray(v) ? v : Object.values(v);
    count += children.length;
    if (count > max) return false;
    for (const child of children) stack.push(child);
  }
  return true;
}

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
  const pair = (options: Options) => ({ first: makeAjv({ ...options, allErrors: false }), every: makeAjv({ ...options, allErrors: true }) });
  const coercing = pair({ coerceTypes: 'array' });
  const strict = pair({ coerceTypes: false });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    const first = ajv.first.compile(schema as object);
    let every: ValidateFunction | undefined;
    const validate = ((data: unknown, context?: object) => {
      if (first(data, context as never)) return true;
      validate.errors = first.errors;
      if (holdsAtMost(data, MAX_DESCRIBED_VALUES)) {
        every ??= ajv.every.compile(schema as object);
        if (!every(data, context as never)) validate.errors = every.errors;
      }
      return false;
    }) as ValidateFunction;
    // Fastify passes the parent (so that a root value can be coerced) to Ajv validators only.
    validate.schemaEnv = first.schemaEnv;
    return validate;
  };
}

/**
 * Fastify's `schemaErrorFormatter`: the error's message only. The problem's words come
 * from api/validation-errors.ts (`err.validation`); Fastify's own formatter would join
 * every error into one string, megabytes for a body with a hundred thousand of them.
 */
export function schemaErrorFormatter(errors: readonly unknown[], dataVar: string): Error {
  return new Error(`${dataVar} has ${errors.length} validation error(s)`);
}

/**
 * Replaces Fastify's JSON body parser with one that takes an empty body as no body: a
 * body-less POST (`…/read`, `…/unread`) sent with `Content-Type: application/json`, as
 * many HTTP clients do, is the same request as one without the header. Everything else
 * is Fastify's own parser (prototype-poisoning protection included): bad JSON is a
 * `400 validation_failed`, and a route that needs a body still says it is missing.
 */
export function acceptEmptyJson(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    parse(request, body as string, done);
  });
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
