/**
 * AI suggestions (SPEC section 6): an agent proposes a draft reply in a conversation;
 * a human sends it, edited or not, or dismisses it. Lifecycle in domain/suggestion.ts,
 * commands in services/suggestions.ts.
 */
import type { FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import type { Clock } from '../../clock.js';
import { SUGGESTION_STATUSES, type SuggestionStatus as SuggestionStatusName } from '../../domain/suggestion.js';
import { notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { sendChannelReply } from '../../services/send-channel.js';
import { sendReply } from '../../services/send-email.js';
import { createSuggestion, dismissSuggestion, sendSuggestion, staleClaimsBefore, statusOf } from '../../services/suggestions.js';
import { findSuggestion, listSuggestions, type SuggestionRow } from '../../store/suggestions.js';
import { principalOf } from '../auth.js';
import { decodeCursor, DEFAULT_LIMIT, page } from '../pagination.js';
import { bodylessAsEmpty } from '../validation.js';
import { Message, Nullable, Page, PageQuery, Problem } from '../schemas.js';
import { visibleConversation } from '../scope.js';
import type { Api, ApiContext } from '../app.js';
import { sentBody } from './messages.js';

const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC' });

const SuggestionStatus = Type.Unsafe<SuggestionStatusName>({
  type: 'string', enum: [...SUGGESTION_STATUSES],
  description: '`pending` until `sent` or `dismissed`; `sending` while a send of it is in flight (a relay failure makes it `pending` again)',
});

/** Longest draft, characters. */
const DraftText = Type.String({ minLength: 1, maxLength: 100_000 });
const Provenance = Type.String({ minLength: 1, maxLength: 200 });

export const Suggestion = Type.Object({
  id: Type.String({ description: '`sug_…` id' }),
  conversation_id: Type.String(),
  status: SuggestionStatus,
  text: Type.String({ description: 'the draft' }),
  model: Nullable(Type.String({ description: 'the model that drafted it' })),
  agent: Nullable(Type.String({ description: 'the agent that drafted it' })),
  sent_message_id: Nullable(Type.String({ description: 'once sent: the message that went out' })),
  sent_text: Nullable(Type.String({ description: 'once sent: the text that went out' })),
  edited: Nullable(Type.Boolean({ description: 'once sent: whether the text sent differs from the draft' })),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'Suggestion' });

const CreateBody = Type.Object({
  text: DraftText,
  model: Type.Optional(Provenance),
  agent: Type.Optional(Provenance),
}, { additionalProperties: false });

const SendBody = Type.Object({
  text: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000, description: 'the text to send instead of the draft (an edit)' })),
}, { additionalProperties: false });

const EmptyBody = Type.Object({}, { additionalProperties: false });

const ListQuery = Type.Object({ status: Type.Optional(SuggestionStatus), ...PageQuery });
const SuggestionParams = Type.Object({ id: Type.String({ maxLength: 100 }), sid: Type.String({ maxLength: 100 }) });

const SentSuggestion = Type.Object({ conversation_id: Type.String(), message: Message, suggestion: Suggestion });

type SuggestionView = Static<typeof Suggestion>;

/** A stored suggestion as the API shows it (a stale `sending` claim shows as `pending`). */
export function suggestionView(row: SuggestionRow, clock: Clock): SuggestionView {
  return {
    id: row.id, conversation_id: row.conversation_id, status: statusOf(row, clock), text: row.text,
    model: row.model, agent: row.agent, sent_message_id: row.sent_message_id, sent_text: row.sent_text,
    edited: row.edited === null ? null : row.edited === 1, created_at: row.created_at, updated_at: row.updated_at,
  };
}

/** Suggestions are text only: nothing to attach. */
const noAttachments = async () => ({ refs: [], outbound: [] });

export function suggestionRoutes(app: Api, { store, config, clock, channels, metrics }: ApiContext): void {
  const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };
  const conversation = (request: FastifyRequest, id: string) => visibleConversation(store.db, principalOf(request), id);
  /** The suggestion `sid` of a visible conversation, or a 404. */
  const visibleSuggestion = async (request: FastifyRequest, id: string, sid: string) => {
    const row = await conversation(request, id);
    const suggestion = isId('sug', sid) ? await findSuggestion(store.db, row.org_id, row.id, sid) : undefined;
    if (!suggestion) throw notFound('suggestion');
    return { row, suggestion };
  };
  app.post('/v1/conversations/:id/suggestions', {
    config: { idempotent: true, permission: 'suggestions:write' },
    schema: {
      tags: ['suggestions'], summary: 'Propose a draft reply (an AI suggestion)',
      params: Type.Object({ id: Type.String({ maxLength: 100 }) }), body: CreateBody,
      response: { 201: Suggestion, ...errors },
    },
  }, async (request, reply) => {
    const row = await conversation(request, request.params.id);
    const created = await createSuggestion(store, principalOf(request), row.id, request.body, clock);
    return reply.status(201).send(suggestionView(created, clock));
  });

  app.get('/v1/conversations/:id/suggestions', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['suggestions'], summary: 'A conversation\'s suggestions, newest first',
      params: Type.Object({ id: Type.String({ maxLength: 100 }) }), querystring: ListQuery,
      response: { 200: Page(Suggestion), ...errors },
    },
  }, async (request) => {
    const row = await conversation(request, request.params.id);
    const { limit = DEFAULT_LIMIT, cursor, status } = request.query;
    const before = cursor ? decodeCursor(cursor, { id: 'string' }).id as string : undefined;
    const rows = await listSuggestions(store.db, {
      orgId: row.org_id, conversationId: row.id, status, staleClaimsBefore: staleClaimsBefore(clock), limit: limit + 1, beforeId: before,
    });
    return page(rows, limit, (r) => suggestionView(r, clock), (r) => ({ id: r.id }));
  });

  app.get('/v1/conversations/:id/suggestions/:sid', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['suggestions'], summary: 'One suggestion', params: SuggestionParams, response: { 200: Suggestion, ...errors } },
  }, async (request) => {
    const { suggestion } = await visibleSuggestion(request, request.params.id, request.params.sid);
    return suggestionView(suggestion, clock);
  });

  app.post('/v1/conversations/:id/suggestions/:sid/send', {
    config: { idempotent: true, permission: 'messages:send', sends: 'conversation' },
    schema: {
      tags: ['suggestions'],
      summary: 'Send a pending suggestion as a reply, optionally edited (records a training pair)',
      params: SuggestionParams, body: SendBody,
      response: { 201: SentSuggestion, ...errors, 409: Problem, 422: Problem, 502: Problem },
    },
    preValidation: bodylessAsEmpty,
  }, async (request, reply) => {
    const principal = principalOf(request);
    const { row, suggestion } = await visibleSuggestion(request, request.params.id, request.params.sid);
    // Through the conversation's channel; a draft carries no media.
    const deliver = row.channel === 'email'
      ? (text: string) => sendReply(store, principal.orgId, row.id, { text }, clock, { lifetimeMs: config.outboundLifetimeMs, maxMessageBytes: config.maxMessageBytes, metrics })
      : (text: string) => sendChannelReply(store, channels, principal.orgId, row.id, { text }, noAttachments, clock, { idempotencyKey: request.idempotencyKey, metrics });
    const sent = await sendSuggestion(store, principal, row.id, suggestion.id, request.body, clock, deliver);
    const body = await sentBody(store, principal.orgId, sent.result);
    return reply.status(201).send({ ...body, suggestion: suggestionView(sent.suggestion, clock) });
  });

  app.post('/v1/conversations/:id/suggestions/:sid/dismiss', {
    config: { idempotent: true, permission: 'suggestions:write' },
    schema: {
      tags: ['suggestions'], summary: 'Dismiss a pending suggestion',
      params: SuggestionParams, body: EmptyBody, response: { 200: Suggestion, ...errors, 409: Problem },
    },
    preValidation: bodylessAsEmpty,
  }, async (request) => {
    const { row, suggestion } = await visibleSuggestion(request, request.params.id, request.params.sid);
    return suggestionView(await dismissSuggestion(store, principalOf(request), row.id, suggestion.id, clock), clock);
  });
}
