/**
 * Webhook endpoints and their delivery log (SPEC section 6):
 * `/v1/webhook_endpoints` CRUD, `GET …/{id}/deliveries` (attempts, status codes,
 * latency, next attempt) and `POST …/deliveries/{did}/replay`.
 */
import Type from 'typebox';
import { notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { MAX_ATTEMPTS } from '../../services/webhook-delivery.js';
import { createEndpoint, deleteEndpoint, replayDelivery, updateEndpoint } from '../../services/webhook-endpoints.js';
import { attemptsOf, findEndpoint, listDeliveries, listEndpoints, type DeliveryRow, type EndpointRow } from '../../store/webhooks.js';
import { principalOf } from '../auth.js';
import { DEFAULT_LIMIT, decodeCursor, page } from '../pagination.js';
import { EventType, IdParams, Page, PageQuery, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const Url = Type.String({ minLength: 8, maxLength: 2048, description: 'http(s) URL that receives POSTs' });
const EventTypes = Type.Array(EventType, { maxItems: 50, description: 'event types to deliver; empty for all' });
const Description = Type.Union([Type.String({ maxLength: 500 }), Type.Null()]);

const CreateBody = Type.Object({
  url: Url,
  event_types: Type.Optional(EventTypes),
  description: Type.Optional(Description),
  enabled: Type.Optional(Type.Boolean({ default: true })),
}, { additionalProperties: false });

const PatchBody = Type.Object({
  url: Type.Optional(Url),
  event_types: Type.Optional(EventTypes),
  description: Type.Optional(Description),
  enabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

const EndpointFields = {
  id: Type.String(),
  url: Type.String(),
  description: Description,
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Type.Union([Type.String(), Type.Null()], { description: 'why it was disabled, when it is' }),
  failing_since: Type.Union([Type.String(), Type.Null()], { description: 'start of the current run of failed attempts' }),
  created_at: Type.String(),
  updated_at: Type.String(),
};
const Endpoint = Type.Object(EndpointFields, { $id: 'WebhookEndpoint' });
const EndpointWithSecret = Type.Object({
  ...EndpointFields,
  secret: Type.String({ description: 'the signing secret (Standard Webhooks `whsec_…`), shown only in this response' }),
});

const Attempt = Type.Object({
  at: Type.String(),
  status_code: Type.Union([Type.Integer(), Type.Null()], { description: 'null when no response came (refused, timeout)' }),
  latency_ms: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
});
const Delivery = Type.Object({
  id: Type.String({ description: 'sent as `webhook-id`; the same on every attempt and replay' }),
  event_id: Type.String(),
  event_seq: Type.Integer(),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
  attempt_count: Type.Integer(),
  max_attempts: Type.Integer(),
  next_attempt_at: Type.Union([Type.String(), Type.Null()]),
  last_status_code: Type.Union([Type.Integer(), Type.Null()]),
  last_latency_ms: Type.Union([Type.Integer(), Type.Null()]),
  attempts: Type.Array(Attempt, { description: 'oldest first' }),
  created_at: Type.String(),
}, { $id: 'WebhookDelivery' });

const DeliveryQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')])),
  ...PageQuery,
});

function endpointView(r: EndpointRow) {
  return {
    id: r.id, url: r.url, description: r.description, event_types: JSON.parse(r.event_types) as string[],
    enabled: r.enabled === 1, disabled_reason: r.disabled_reason, failing_since: r.failing_since,
    created_at: r.created_at, updated_at: r.updated_at,
  };
}

function deliveryView(d: DeliveryRow, attempts: readonly { at: string; status_code: number | null; latency_ms: number; error: string | null }[]) {
  const last = attempts.at(-1);
  return {
    id: d.id, event_id: d.event_id, event_seq: Number(d.event_seq), event_type: d.event_type,
    status: d.status as 'pending' | 'succeeded' | 'failed', attempt_count: d.attempt_count, max_attempts: MAX_ATTEMPTS,
    next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
    last_status_code: last?.status_code ?? null, last_latency_ms: last?.latency_ms ?? null,
    attempts: attempts.map((a) => ({ at: a.at, status_code: a.status_code, latency_ms: a.latency_ms, error: a.error })),
    created_at: d.created_at,
  };
}

const errors = { 400: Problem, 401: Problem, 404: Problem };
const DeliveryParams = Type.Object({ id: Type.String({ maxLength: 100 }), did: Type.String({ maxLength: 100 }) });

export function webhookRoutes(app: Api, { store, clock, config, listenerPorts }: ApiContext): void {
  const load = async (orgId: string, id: string) => {
    const row = isId('whk', id) ? await findEndpoint(store.db, orgId, id) : undefined;
    if (!row) throw notFound('webhook endpoint');
    return row;
  };

  app.post('/v1/webhook_endpoints', {
    config: { idempotent: true, permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'Register a webhook endpoint (its secret is shown once)', body: CreateBody, response: { 201: EndpointWithSecret, ...errors, 422: Problem } },
  }, async (request, reply) => {
    const row = await createEndpoint(store, principalOf(request).orgId, request.body, { selfPorts: listenerPorts(), refusePrivate: !config.outboundAllowPrivate }, clock);
    return reply.status(201).send({ ...endpointView(row), secret: row.secret });
  });

  app.get('/v1/webhook_endpoints', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'List webhook endpoints, newest first', querystring: Type.Object(PageQuery), response: { 200: Page(Endpoint), ...errors } },
  }, async (request) => {
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }) : undefined;
    const rows = await listEndpoints(store.db, principalOf(request).orgId, limit, after?.id);
    return page(rows, limit, endpointView, (r) => ({ id: r.id }));
  });

  app.get('/v1/webhook_endpoints/:id', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'A webhook endpoint', params: IdParams, response: { 200: Endpoint, ...errors } },
  }, async (request) => endpointView(await load(principalOf(request).orgId, request.params.id)));

  app.patch('/v1/webhook_endpoints/:id', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'Change a webhook endpoint (enable it again after it was disabled)', params: IdParams, body: PatchBody, response: { 200: Endpoint, ...errors, 422: Problem } },
  }, async (request) => {
    const { orgId } = principalOf(request);
    const row = await load(orgId, request.params.id);
    return endpointView(await updateEndpoint(store, orgId, row.id, request.body, { selfPorts: listenerPorts(), refusePrivate: !config.outboundAllowPrivate }, clock));
  });

  app.delete('/v1/webhook_endpoints/:id', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'Delete a webhook endpoint and its delivery log', params: IdParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    const { orgId } = principalOf(request);
    await deleteEndpoint(store, orgId, (await load(orgId, request.params.id)).id);
    return reply.status(204).send(null);
  });

  app.get('/v1/webhook_endpoints/:id/deliveries', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'Delivery log: attempts, status codes, latency, next attempt (newest first)', params: IdParams, querystring: DeliveryQuery, response: { 200: Page(Delivery), ...errors } },
  }, async (request) => {
    const { orgId } = principalOf(request);
    const ep = await load(orgId, request.params.id);
    const limit = request.query.limit ?? DEFAULT_LIMIT;
    const after = request.query.cursor ? decodeCursor(request.query.cursor, { id: 'string' }) : undefined;
    const rows = await listDeliveries(store.db, orgId, ep.id, { limit, beforeId: after?.id, status: request.query.status });
    const attempts = await attemptsOf(store.db, rows.slice(0, limit).map((r) => r.id));
    return page(rows, limit, (r) => deliveryView(r, attempts.get(r.id) ?? []), (r) => ({ id: r.id }));
  });

  app.post('/v1/webhook_endpoints/:id/deliveries/:did/replay', {
    config: { permission: 'webhooks:manage' },
    schema: { tags: ['webhooks'], summary: 'Send a delivery again now (same webhook-id)', params: DeliveryParams, response: { 202: Delivery, ...errors } },
  }, async (request, reply) => {
    const { orgId } = principalOf(request);
    const ep = await load(orgId, request.params.id);
    if (!isId('whd', request.params.did)) throw notFound('delivery');
    const row = await replayDelivery(store, orgId, ep.id, request.params.did, clock);
    const attempts = await attemptsOf(store.db, [row.id]);
    return reply.status(202).send(deliveryView(row, attempts.get(row.id) ?? []));
  });
}
