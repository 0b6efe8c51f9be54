/**
 * Closed request inputs: a `/v1` request naming a body field or query parameter its
 * route does not define is a `400 validation_failed` naming it, rather than a typo
 * silently ignored (`?serach=` listing everything, `{"archive": true}` changing nothing).
 * Applied once, as routes are registered, to every schema, so no route can forget it and
 * the OpenAPI document shows it (`additionalProperties: false`).
 *
 * Provider webhooks (`config.providerAuth`) stay open: a provider adds fields at will.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { AppError } from '../errors.js';

type Schema = Record<string, unknown>;

const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Subschema keywords walked into: objects nested in objects, arrays and unions. */
const SINGLE = ['items', 'additionalItems', 'contains', 'not', 'if', 'then', 'else'] as const;
const MAPS = ['properties', 'patternProperties', '$defs', 'definitions'] as const;
const LISTS = ['anyOf', 'oneOf', 'prefixItems'] as const;

/**
 * A copy of a JSON schema in which every object schema that lists `properties` and says
 * nothing of other properties gets `additionalProperties: false`, at any depth. Objects
 * that declare `additionalProperties` or `patternProperties` (maps such as a contact's
 * `attributes`) keep what they say, and the branches of an `allOf` are left as they are
 * (each would refuse the others' fields).
 *
 * @param schema a JSON schema (TypeBox schemas are plain JSON schemas); not changed.
 * @returns the closed copy (deterministic: two calls give deep-equal results, which Ajv
 *   needs for schemas carrying the same `$id`).
 */
export function closeSchema<T>(schema: T): T {
  if (!isSchema(schema)) return schema;
  const out: Schema = { ...schema };
  for (const key of SINGLE) if (isSchema(out[key])) out[key] = closeSchema(out[key]);
  for (const key of MAPS) {
    const map = out[key];
    if (isSchema(map)) out[key] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, closeSchema(v)]));
  }
  for (const key of LISTS) {
    const items = out[key];
    if (Array.isArray(items)) out[key] = items.map((s: unknown) => closeSchema(s));
  }
  if (Array.isArray(out.items)) out.items = out.items.map((s: unknown) => closeSchema(s));
  const isObject = out.type === 'object' || isSchema(out.properties);
  if (isObject && isSchema(out.properties) && out.additionalProperties === undefined && out.patternProperties === undefined) {
    out.additionalProperties = false;
  }
  return out as T;
}

/** The query string of a route that declares none: no parameter at all. */
const NO_QUERY: Schema = { type: 'object', properties: {}, additionalProperties: false };

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const methodsOf = (route: RouteOptions) => [route.method].flat().map((m) => m.toUpperCase());
const isJson = (request: FastifyRequest) => /^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '');

/**
 * The check of a route without a body schema: no body, or an empty JSON object.
 *
 * @throws AppError `validation_failed` naming the first field sent (or `body`).
 */
async function noBody(request: FastifyRequest): Promise<void> {
  const body = request.body;
  if (body === undefined || body === null || !isJson(request)) return;
  const fields = isSchema(body) ? Object.keys(body) : null;
  if (fields?.length === 0) return;
  const named = fields ? `${fields.slice(0, 5).join(', ')}${fields.length > 5 ? ', …' : ''}: this` : 'This';
  throw new AppError('validation_failed', `${named} endpoint takes no body.`, {
    param: fields?.[0] ?? 'body', fix: 'Send the request without a body (or with `{}`).',
  });
}

/**
 * Closes the body and query string of every `/v1` route registered after this call
 * (`onRoute`): their schemas go through {@link closeSchema}; a route without a query
 * schema accepts no query parameter; a POST, PUT, PATCH or DELETE without a body schema
 * (and without `consumes` naming other media types) accepts no body but `{}`. Install
 * before the routes.
 */
export function installStrictInput(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const config = route.config as { providerAuth?: boolean } | undefined;
    if (!route.url.startsWith('/v1/') || config?.providerAuth) return;
    const schema = (route.schema ?? {}) as Schema;
    route.schema = {
      ...schema,
      querystring: schema.querystring === undefined ? NO_QUERY : closeSchema(schema.querystring),
      ...(schema.body === undefined ? {} : { body: closeSchema(schema.body) }),
    };
    // A route that declares other media types (raw mail, multipart) reads its body itself.
    const consumes = schema.consumes as readonly string[] | undefined;
    const takesJson = consumes === undefined || consumes.includes('application/json');
    if (schema.body === undefined && takesJson && methodsOf(route).some((m) => BODY_METHODS.has(m))) {
      route.preValidation = [...[route.preValidation ?? []].flat(), noBody];
    }
  });
}
