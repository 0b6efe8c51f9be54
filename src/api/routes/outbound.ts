/**
 * The outbound email queue for operators (services/outbound-queue.ts): `GET /v1/outbound`
 * lists what waits for a relay or gave up, `POST /v1/messages/{id}/retry` tries one now.
 */
import Type from 'typebox';
import { retryNow, listQueue, type QueueEntry } from '../../services/outbound-queue.js';
import { principalOf } from '../auth.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { IdParams, Nullable, Page, PageQuery, Problem } from '../schemas.js';
import { identityFilter } from '../identity-filter.js';
import type { Api, ApiContext } from '../app.js';

const QueueState = Type.Union([Type.Literal('queued'), Type.Literal('deferred'), Type.Literal('failed')], {
  description: '`queued`: not tried yet; `deferred`: a temporary failure, retried with backoff; `failed`: given up (kept until retried)',
});

const Entry = Type.Object({
  message_id: Type.String({ description: '`msg_…` id of the outgoing message' }),
  conversation_id: Type.String(),
  identity_id: Type.String(),
  mailbox_id: Type.String({ description: 'the mailbox whose relay it goes through' }),
  state: QueueState,
  attempts: Type.Integer({ description: 'attempts made so far' }),
  next_attempt_at: Nullable(Type.String({ format: 'date-time' }), { description: 'when it is tried next; null once failed' }),
  expires_at: Type.String({ format: 'date-time', description: 'past this, a temporary failure is final (OUTBOUND_LIFETIME_MS after queueing)' }),
  last_error: Nullable(Type.String({ description: 'the relay\'s last reply or the connection error' })),
  recipients: Type.Array(Type.String(), { description: 'the envelope recipients' }),
  created_at: Type.String({ format: 'date-time' }),
}, { $id: 'OutboundEntry' });

const ListQuery = Type.Object({
  status: Type.Optional(QueueState),
  identity_id: Type.Optional(Type.String({ maxLength: 100 })),
  ...PageQuery,
});

const entryView = (e: QueueEntry) => ({
  message_id: e.message_id, conversation_id: e.conversation_id, identity_id: e.identity_id, mailbox_id: e.account_id,
  state: e.state as 'queued' | 'deferred' | 'failed', attempts: e.attempts, next_attempt_at: e.next_attempt_at,
  expires_at: e.expires_at, last_error: e.last_error, recipients: (JSON.parse(e.envelope) as { to: string[] }).to,
  created_at: e.created_at,
});

export function outboundRoutes(app: Api, { store, config, clock }: ApiContext): void {
  app.get('/v1/outbound', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['messages'], summary: 'The outbound email queue: messages waiting for their relay, or given up', querystring: ListQuery,
      response: { 200: Page(Entry), 400: Problem, 401: Problem, 403: Problem },
    },
  }, async (request) => {
    const principal = principalOf(request);
    const { limit = DEFAULT_LIMIT, cursor, status, identity_id: asked } = request.query;
    const identityId = await identityFilter(store.db, principal, asked);
    const after = cursor ? decodeCursor(cursor, { id: 'string' }) : undefined;
    const rows = await listQueue(store, principal.orgId, { state: status, identityId, afterId: after?.id, limit });
    return page(rows, limit, entryView, (r) => ({ id: r.message_id }));
  });

  app.post('/v1/messages/:id/retry', {
    config: { permission: 'messages:send' },
    schema: {
      tags: ['messages'], summary: 'Try a deferred or failed email again now', params: IdParams,
      response: { 202: Type.Object({ message_id: Type.String(), status: Type.Literal('queued') }), 401: Problem, 404: Problem, 409: Problem },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    await retryNow(store, principal.orgId, request.params.id, { clock, lifetimeMs: config.outboundLifetimeMs }, principal.identityId);
    return reply.status(202).send({ message_id: request.params.id, status: 'queued' as const });
  });
}
