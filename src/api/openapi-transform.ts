/**
 * Makes `GET /openapi.json` fit for client generation, in one place rather than in every
 * route file: each operation gets its `operationId` ({@link OPERATIONS}) and every
 * status it can answer. Route files declare the problems their handler throws; the
 * problems that come from the layers every request crosses are added here, from what
 * the route is:
 *
 * | status | when | from |
 * | --- | --- | --- |
 * | 400 `validation_failed` | the route validates anything (every `/v1` query string is closed) | validation.ts, strict-input.ts |
 * | 401 `unauthenticated` | an API-key route | auth.ts |
 * | 403 `missing_permission` | an API-key route (each declares a permission) | auth.ts |
 * | 404 `not_found` | the path names an id | each lookup |
 * | 409 `idempotency_conflict` | the route honours `Idempotency-Key` | idempotency.ts |
 * | 413, 415 | the route reads a body | Fastify's body parsing |
 * | 429 `rate_limited` | an API-key route | rate-limit.ts |
 * | 500 `internal_error`, 503 `not_ready` | every route | problem.ts, load shedding (app.ts) |
 *
 * Every problem is documented as `application/problem+json` with the shared `Problem`
 * schema, and `Retry-After` where the server sends it. A route that honours
 * `Idempotency-Key` lists the header. This only shapes the document: validation and
 * serialization keep using the route's own schema.
 */
import type { RouteOptions } from 'fastify';
import { OPERATIONS, operationKey } from './openapi-operations.js';

type Schema = Record<string, unknown>;

/** What a problem answer of each status is, as documented. */
const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'The request is invalid (`validation_failed`: `errors` lists every problem, `param` the first; or another 400 code).',
  401: 'No valid credentials: a missing, unknown or revoked API key (`unauthenticated`, with `WWW-Authenticate: Bearer`), or a provider webhook whose signature does not verify (`invalid_signature`).',
  403: 'The key may not do this (`missing_permission`, `forbidden_identity`), or a contact rule blocks the recipient (`recipient_blocked`).',
  404: 'No such resource (`not_found`): unknown, malformed, or not visible to this key; the three are never told apart.',
  409: 'A conflict with the current state (`idempotency_conflict`, or a code naming the state: `retryable` says whether the same call may succeed later).',
  413: 'The body is over the configured limit (`payload_too_large`).',
  415: 'The body\'s media type is not one this endpoint reads (`unsupported_media_type`).',
  422: 'The request is well-formed but cannot be carried out (the `code` says why).',
  429: 'A rate limit was reached (`rate_limited`): wait `Retry-After` seconds.',
  500: 'The server failed (`internal_error`); no internals are disclosed.',
  502: 'The channel provider failed (`upstream_failed`, `retryable: true`): retry with the same Idempotency-Key.',
  503: 'The server is starting, shutting down or shedding load (`not_ready`, `retryable: true`): retry after `Retry-After` seconds, on another node if there is one.',
};

const RETRY_AFTER = { type: 'integer', minimum: 0, description: 'seconds to wait before retrying' };
const RATE_LIMIT_HEADERS = {
  'retry-after': RETRY_AFTER,
  'ratelimit-limit': { type: 'integer', description: 'requests allowed in the window' },
  'ratelimit-remaining': { type: 'integer', description: 'requests left in the window' },
  'ratelimit-reset': { type: 'integer', description: 'seconds until the window resets' },
};

/** Headers documented on a problem answer, by status. */
const PROBLEM_HEADERS: Readonly<Record<number, Schema>> = {
  401: { 'www-authenticate': { type: 'string', description: 'the Bearer challenge (RFC 6750)' } },
  429: RATE_LIMIT_HEADERS,
  503: { 'retry-after': RETRY_AFTER },
};

const IDEMPOTENCY_KEY = {
  type: 'string', minLength: 1, maxLength: 255,
  description: 'Makes the write safe to retry for 24 hours: a retry with the same key and body gets the first answer again (`Idempotent-Replayed: true`); the same key with another body is a 409 `idempotency_conflict`.',
};

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface RouteFacts {
  readonly methods: readonly string[];
  readonly url: string;
  readonly config: { readonly permission?: string; readonly providerAuth?: boolean; readonly idempotent?: boolean };
}

/**
 * The problem statuses a route can answer besides those its schema declares (see the
 * table above).
 *
 * @param route the route's methods, URL and config.
 * @param schema the route's schema as registered.
 * @returns the statuses, ascending.
 */
export function impliedProblemStatuses(route: RouteFacts, schema: Schema): number[] {
  const statuses = new Set<number>([500, 503]);
  const apiKey = route.url.startsWith('/v1/') && !route.config.providerAuth;
  if (apiKey) for (const s of [400, 401, 403, 429]) statuses.add(s);
  if (['querystring', 'body', 'params', 'headers'].some((k) => schema[k] !== undefined)) statuses.add(400);
  if (/[:{]/.test(route.url)) statuses.add(404);
  if (route.methods.some((m) => BODY_METHODS.has(m))) {
    statuses.add(413);
    statuses.add(415);
  }
  if (route.config.idempotent) {
    statuses.add(400);
    statuses.add(409);
  }
  return [...statuses].sort((a, b) => a - b);
}

/** A documented problem answer of `status`, in the content form @fastify/swagger passes through. */
function problemResponse(status: number): Schema {
  const headers = PROBLEM_HEADERS[status];
  return {
    description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem details (RFC 9457).',
    ...(headers ? { headers } : {}),
    content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
  };
}

/** The document's responses of a route: its own successes, every problem as problem+json. */
function responses(route: RouteFacts, schema: Schema, produces: string | undefined): Schema {
  const declared = (schema.response ?? {}) as Schema;
  const out: Schema = {};
  for (const [code, value] of Object.entries(declared)) {
    if (Number(code) >= 400) continue;
    const raw = value as Schema;
    out[code] = produces && raw.content === undefined && raw.type !== 'null'
      ? { description: raw.description ?? 'Default Response', content: { [produces]: { schema: raw } } }
      : raw;
  }
  if (!Object.keys(out).some((c) => c.startsWith('2')) && produces) {
    out['200'] = { description: 'The stream or file', content: { [produces]: { schema: { type: 'string' } } } };
  }
  const problems = new Set([...Object.keys(declared).map(Number).filter((c) => c >= 400), ...impliedProblemStatuses(route, schema)]);
  for (const status of [...problems].sort((a, b) => a - b)) out[String(status)] = problemResponse(status);
  return out;
}

/** The documented body of a route that reads its own (raw mail, multipart uploads). */
function documentedBody(schema: Schema): Schema | undefined {
  if (schema.body !== undefined || !Array.isArray(schema.consumes)) return schema.body as Schema | undefined;
  const consumes = schema.consumes as string[];
  if (consumes.includes('multipart/form-data')) {
    return { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary', description: 'the file' } } };
  }
  return { type: 'string', format: 'binary' };
}

/**
 * @fastify/swagger's `transform`: the route's schema as the document shows it, with its
 * `operationId` (from {@link OPERATIONS}; none when the table lacks the route, which the
 * OpenAPI test reports), its problem answers and its `Idempotency-Key` header.
 */
export function openApiTransform({ schema, url, route }: { schema: unknown; url: string; route: RouteOptions }): { schema: Schema; url: string } {
  const own = (schema ?? {}) as Schema;
  if (own.hide) return { schema: own, url };
  const methods = [route.method].flat().map((m) => m.toUpperCase());
  const facts: RouteFacts = { methods, url, config: (route.config ?? {}) as RouteFacts['config'] };
  const info = methods.length === 1 ? OPERATIONS[operationKey(methods[0]!, url)] : undefined;
  const headers = facts.config.idempotent ? withIdempotencyKey(own.headers as Schema | undefined) : own.headers;
  const body = documentedBody(own);
  return {
    url,
    schema: {
      ...own,
      ...(info ? { operationId: info.id } : {}),
      ...(headers ? { headers } : {}),
      ...(body ? { body } : {}),
      ...(info?.consumes && own.consumes === undefined ? { consumes: [info.consumes] } : {}),
      ...(facts.config.providerAuth && own.security === undefined ? { security: [] } : {}),
      response: responses(facts, own, info?.produces),
    },
  };
}

/** A route's header schema with `Idempotency-Key` among its properties. */
function withIdempotencyKey(headers: Schema | undefined): Schema {
  const properties = { ...((headers?.properties ?? {}) as Schema) };
  if (!Object.keys(properties).some((k) => k.toLowerCase() === 'idempotency-key')) properties['idempotency-key'] = IDEMPOTENCY_KEY;
  return { type: 'object', ...headers, properties };
}
