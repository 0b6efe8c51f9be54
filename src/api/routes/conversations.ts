/**
 * Conversations: list, snapshot, timeline pages, labels and archive, and send by
 * conversation id (SPEC section 6).
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { HEALTHY_STATUSES } from '../../channels/adapter.js';
import { isoNow } from '../../clock.js';
import type { EventType as EventTypeName, TimelineEvent } from '../../domain/events.js';
import { AppError, notFound } from '../../errors.js';
import { findContactRecord } from '../../services/contacts.js';
import { mergeManually, patchConversation, type ConversationPatch } from '../../services/conversations.js';
import { reactToMessage, sendReadReceipt, sendTyping } from '../../services/channel-signals.js';
import { attachableMedia } from '../../services/media.js';
import { sendChannelReply, type MediaResolver } from '../../services/send-channel.js';
import { sendReply } from '../../services/send-email.js';
import { answerPendingSuggestion } from '../../services/suggestions.js';
import { findAnyView } from '../../services/views.js';
import { listConversationJson, listConversations, countOverdue, timelineIds } from '../../store/conversations.js';
import { findAccount } from '../../store/identities.js';
import { searchHits } from '../../store/search.js';
import { listEvents, type ConversationRow } from '../../store/timeline.js';
import { principalOf, requirePermission } from '../auth.js';
import { actorOf } from '../../services/access.js';
import { markRead } from '../../services/inbox.js';
import { FilterFields, toStoreFilter } from '../conversation-filter.js';
import { identityFilter } from '../identity-filter.js';
import { visibleConversation } from '../scope.js';
import { decodeCursor, DEFAULT_LIMIT, jsonPage, page } from '../pagination.js';
import { callView, contactView, conversationView, noteView, senderView } from '../presenters.js';
import { narrowView } from '../view-filter.js';
import {
  Call, Conversation, ConversationSnapshot, Event, EventType, IdParams, Label, Message, Note, Page, PageQuery, Problem, ReactionEvent,
} from '../schemas.js';
import { bodylessAsEmpty } from '../validation.js';
import type { Api, ApiContext } from '../app.js';
import { loadMessageViews, sendResponse, SendReplyBody, SendResponse } from './messages.js';

/** Events embedded in a snapshot before paging is needed. */
export const SNAPSHOT_EVENTS = 100;

const ListQuery = Type.Object({
  ...FilterFields,
  view_id: Type.Optional(Type.String({ maxLength: 100, description: 'a view (GET /v1/views) whose filter the other parameters narrow' })),
  ...PageQuery,
});

const Inclusion = Type.Union([Type.Literal('calls'), Type.Literal('notes')]);
const TimelineQuery = Type.Object({
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })),
  include: Type.Optional(Type.Array(Inclusion, { maxItems: 2, description: 'also list calls and/or notes inline, in timeline order (`include=calls,notes` or repeated)' })),
  ...PageQuery,
});

const EventsQuery = Type.Object({
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })),
  types: Type.Optional(Type.Array(EventType, { description: 'only these event types' })),
  ...PageQuery,
});

const PatchBody = Type.Object({
  archived: Type.Optional(Type.Boolean()),
  starred: Type.Optional(Type.Boolean()),
  unread_count: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'raw override; 0 marks read' })),
  labels: Type.Optional(Type.Array(Label, { maxItems: 100, description: 'the full label set' })),
});

const LabelsBody = Type.Object({ labels: Type.Array(Label, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false });
const LabelsQuery = Type.Object({ label: Type.Union([Label, Type.Array(Label, { minItems: 1, maxItems: 100 })]) });
const ArchiveBody = Type.Object({ archived: Type.Boolean() }, { additionalProperties: false });
const MergeBody = Type.Object({
  conversation_id: Type.String({ maxLength: 100, description: 'the other conversation (`conv_…`), of the same identity' }),
}, { additionalProperties: false });

const errors = { 400: Problem, 401: Problem, 404: Problem };

const TypingState = Type.Union([Type.Literal('started'), Type.Literal('stopped')]);
const TypingBody = Type.Object({ state: Type.Optional(TypingState) }, { additionalProperties: false });
/** The typing signal as live subscribers get it (`event: typing`). */
const Typing = Type.Object({
  type: Type.Literal('typing'), conversation_id: Type.String(), state: TypingState,
  direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')], { description: 'outbound: we are typing; inbound: the counterpart is' }),
  at: Type.String({ format: 'date-time' }),
});

const ReactionBody = Type.Object({
  message_id: Type.String({ maxLength: 100, description: 'a message of this conversation (`msg_…`)' }),
  reaction: Type.String({ minLength: 1, maxLength: 32, description: 'iMessage: `love`, `like`, `dislike`, `laugh`, `emphasize` or `question`; other channels: any short text, such as an emoji' }),
  removed: Type.Optional(Type.Boolean({ default: false, description: 'true takes the reaction back' })),
}, { additionalProperties: false });

const eventPosition = (e: TimelineEvent) => ({ at: e.at, seq: e.seq });
const EVENT_CURSOR = { at: 'string', seq: 'number' } as const;

export function conversationRoutes(app: Api, { store, config, clock, readCache, channels, media, metrics }: ApiContext): void {
  const load = (request: FastifyRequest, id: string) => visibleConversation(store.db, principalOf(request), id);

  app.get('/v1/conversations', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['conversations'], summary: 'List conversations, newest activity first', querystring: ListQuery, response: { 200: Page(Conversation), ...errors } },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const { limit = DEFAULT_LIMIT, cursor, view_id: viewId, ...params } = request.query;
    await identityFilter(store.db, principal, params.identity_id);
    const filter = viewId === undefined
      ? toStoreFilter(principal, params)
      : narrowView(principal, (await findAnyView(store.db, principal.orgId, viewId, 'view_id')).filter, params);
    if (!filter) return { data: [], next_cursor: null, has_more: false };
    const after = cursor ? decodeCursor(cursor, { t: 'string', id: 'string' }) : undefined;
    const query = { ...filter, limit, after: after ? { lastEventAt: after.t, id: after.id } : undefined };
    // The filter is resolved for this principal (identity scope, `me`), so equal keys mean equal pages.
    const body = await readCache.get(principal.orgId, `list\n${JSON.stringify(query)}`, async () => {
      if (!filter.q?.length) {
        // Each row comes as its JSON, kept by the store: the page is joined, not built and serialized.
        const rows = await listConversationJson(store.db, principal.orgId, query);
        return Buffer.from(jsonPage(rows, limit, (r) => r.json, (r) => ({ t: r.last_event_at, id: r.id })));
      }
      const rows = await listConversations(store.db, principal.orgId, query);
      const hits = filter.q ? await searchHits(store.db, principal.orgId, rows.slice(0, limit).map((r) => r.id), filter.q) : null;
      const view = (r: ConversationRow) => {
        const hit = hits?.get(r.id);
        return hit ? { ...conversationView(r), search: hit } : conversationView(r);
      };
      return Buffer.from(reply.serialize(page(rows, limit, view, (r) => ({ t: r.last_event_at, id: r.id }))) as string);
    }, principal.orgVersion);
    // A Buffer is sent as is (serialized above, with this route's schema or by the store; encoded once, not per request).
    return reply.type('application/json; charset=utf-8').send(body as never);
  });

  app.get('/v1/conversations/overdue/count', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['sla'], summary: 'How many conversations are past their SLA deadline',
      querystring: Type.Object({ identity_id: Type.Optional(Type.String({ maxLength: 100 })) }),
      response: { 200: Type.Object({ count: Type.Integer() }), ...errors },
    },
  }, async (request) => {
    const principal = principalOf(request);
    const identityId = await identityFilter(store.db, principal, request.query.identity_id);
    return { count: await countOverdue(store.db, principal.orgId, identityId) };
  });

  app.get('/v1/conversations/:id', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['conversations'], summary: 'Conversation snapshot with its timeline', params: IdParams,
      querystring: Type.Object({
        identity_id: Type.Optional(Type.String({ maxLength: 100, description: 'assert the conversation belongs to this identity (404 otherwise)' })),
        mark_read: Type.Optional(Type.Boolean({ description: 'mark its messages read first (needs conversations:write); reading never changes anything otherwise' })),
      }),
      response: { 200: ConversationSnapshot, ...errors, 403: Problem },
    },
  }, async (request) => {
    const principal = principalOf(request);
    let row = await load(request, request.params.id);
    if (request.query.identity_id !== undefined && request.query.identity_id !== row.identity_id) throw notFound('conversation');
    if (request.query.mark_read) {
      requirePermission(principal, 'conversations:write');
      const out = await markRead(store, principal.orgId, row.id, actorOf(principal), clock);
      row = out.conversation;
      if (out.result.updated_count > 0) {
        // As POST …/read, but a reading GET never fails for the receipt: one that is refused
        // (released, blocked, unhealthy account) or fails is skipped and logged.
        await sendReadReceipt(store, channels, row, clock).catch((err: unknown) => {
          if (!(err instanceof AppError)) throw err;
          request.log.warn({ conversation_id: row.id, reason: err.message }, 'read receipt not sent');
        });
      }
    }
    const conversationIds = await timelineIds(store.db, row.org_id, row.id);
    const events = await listEvents(store.db, { conversationIds, order: 'asc', limit: SNAPSHOT_EVENTS });
    const p = page(events, SNAPSHOT_EVENTS, (e) => e, eventPosition, true);
    const contact = row.contact_id ? await findContactRecord(store.db, row.org_id, row.contact_id) : null;
    const sender = await findAccount(store.db, row.org_id, row.account_id);
    return {
      ...conversationView(row),
      sender: sender ? senderView(sender) : null,
      // Seed 004: true when the sending account is missing or not healthy; a reply then
      // answers 409 sender_disconnected (never another mailbox: recipient affinity).
      sender_disconnected: sender ? !(HEALTHY_STATUSES as readonly string[]).includes(sender.status) : true,
      contact: contact && contactView(contact),
      merged_from: conversationIds.slice(1),
      events: p.data, has_more_events: p.has_more, events_next_cursor: p.next_cursor,
    };
  });

  app.get('/v1/conversations/:id/events', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['conversations'], summary: 'Timeline events, paged', params: IdParams, querystring: EventsQuery, response: { 200: Page(Event), ...errors } },
  }, async (request) => {
    const row = await load(request, request.params.id);
    const { limit = DEFAULT_LIMIT, order = 'asc', cursor, types } = request.query;
    const after = cursor ? decodeCursor(cursor, EVENT_CURSOR) : undefined;
    const conversationIds = await timelineIds(store.db, row.org_id, row.id);
    const events = await listEvents(store.db, { conversationIds, order, limit, types, after });
    return page(events, limit, (e) => e, eventPosition, order === 'asc');
  });

  app.get('/v1/conversations/:id/messages', {
    config: { permission: 'conversations:read' },
    schema: {
      tags: ['conversations'], summary: 'Messages of a conversation, paged; calls and notes inline when asked', params: IdParams,
      querystring: TimelineQuery, response: { 200: Page(Type.Union([Message, Call, Note], { description: 'discriminated on `type`' })), ...errors },
    },
    // `include=calls,notes` and `include=calls&include=notes` mean the same.
    preValidation: async (request) => {
      const q = request.query as { include?: string | string[] };
      if (q.include !== undefined) q.include = ([] as string[]).concat(q.include).flatMap((v) => v.split(','));
    },
  }, async (request) => {
    const { orgId } = principalOf(request);
    const row = await load(request, request.params.id);
    const { limit = DEFAULT_LIMIT, order = 'asc', cursor, include = [] } = request.query;
    const after = cursor ? decodeCursor(cursor, EVENT_CURSOR) : undefined;
    const types: EventTypeName[] = ['message', ...include.map((i) => (i === 'calls' ? 'call' as const : 'note' as const))];
    const conversationIds = await timelineIds(store.db, orgId, row.id);
    const events = await listEvents(store.db, { conversationIds, order, limit, types, after });
    const shown = events.slice(0, limit);
    const messages = new Map((await loadMessageViews(store, orgId, shown)).map((m) => [m.id, m]));
    const p = page(events, limit, (e) => e, eventPosition, order === 'asc');
    return {
      ...p,
      data: shown.map((e) => {
        if (e.type === 'note') return noteView(e);
        if (e.type === 'call') return callView(e);
        return messages.get((e as TimelineEvent & { type: 'message' }).data.message_id)!;
      }),
    };
  });

  const patch = async (request: FastifyRequest, id: string, body: ConversationPatch) => {
    const principal = principalOf(request);
    await load(request, id);
    return conversationView(await patchConversation(store, principal.orgId, id, body, actorOf(principal), clock));
  };

  app.patch('/v1/conversations/:id', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['conversations'], summary: 'Change archived, starred, unread_count or labels', params: IdParams, body: PatchBody, response: { 200: Conversation, ...errors } },
  }, async (request) => {
    const body = request.body ?? {};
    if (body.archived === undefined && body.labels === undefined && body.starred === undefined && body.unread_count === undefined) {
      throw new AppError('no_valid_fields', 'The body has no field this endpoint changes: send `archived`, `starred`, `unread_count` or `labels`.', {
        fix: 'Send at least one of `archived`, `starred`, `unread_count`, `labels` (other fields are refused).',
      });
    }
    return patch(request, request.params.id, body);
  });

  app.post('/v1/conversations/:id/labels', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['conversations'], summary: 'Add labels', params: IdParams, body: LabelsBody, response: { 200: Conversation, ...errors } },
  }, async (request) => patch(request, request.params.id, { add_labels: request.body.labels }));

  app.delete('/v1/conversations/:id/labels', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['conversations'], summary: 'Remove labels (`?label=a&label=b`)', params: IdParams, querystring: LabelsQuery, response: { 200: Conversation, ...errors } },
  }, async (request) => {
    const labels = ([] as string[]).concat(request.query.label);
    return patch(request, request.params.id, { remove_labels: labels });
  });

  app.post('/v1/conversations/:id/archive', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['conversations'], summary: 'Archive or unarchive', params: IdParams, body: ArchiveBody, response: { 200: Conversation, ...errors } },
  }, async (request) => patch(request, request.params.id, { archived: request.body.archived }));

  app.post('/v1/conversations/:id/merge', {
    config: { idempotent: true, permission: 'conversations:write' },
    schema: {
      tags: ['conversations'],
      summary: 'Merge another conversation of the same identity with this one (the older survives; its id answers for both)',
      params: IdParams, body: MergeBody, response: { 200: Conversation, ...errors, 422: Problem },
    },
  }, async (request) => {
    const principal = principalOf(request);
    await load(request, request.params.id);
    const other = request.body.conversation_id;
    await visibleConversation(store.db, principal, other).catch((err: unknown) => {
      throw err instanceof AppError && err.code === 'not_found' ? new AppError('not_found', err.message, { param: 'conversation_id' }) : err;
    });
    return conversationView(await mergeManually(store, principal.orgId, request.params.id, other, actorOf(principal), clock));
  });

  app.post('/v1/conversations/:id/typing', {
    config: { permission: 'conversations:write' },
    schema: {
      tags: ['conversations'], summary: 'Typing indicator: sent to live subscribers (and the channel, where it has one), never stored',
      params: IdParams, body: TypingBody, response: { 202: Typing, ...errors, 409: Problem, 502: Problem },
    },
    // A bodyless POST means `{}` (state `started`).
    preValidation: bodylessAsEmpty,
  }, async (request, reply) => {
    const { orgId } = principalOf(request);
    const row = await load(request, request.params.id);
    const state = request.body.state ?? 'started';
    await sendTyping(store, channels, row, state, clock);
    const signal = {
      type: 'typing' as const, conversation_id: row.id, state,
      direction: 'outbound' as const, at: isoNow(clock),
    };
    await store.broadcastSignal(orgId, JSON.stringify(signal));
    return reply.status(202).send(signal);
  });

  app.post('/v1/conversations/:id/reactions', {
    config: { idempotent: true, permission: 'messages:send' },
    schema: {
      tags: ['messages'], summary: 'React to a message (an iMessage tapback goes to the channel; elsewhere it is recorded)',
      params: IdParams, body: ReactionBody, response: { 201: ReactionEvent, ...errors, 403: Problem, 409: Problem, 502: Problem },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const row = await load(request, request.params.id);
    const event = await reactToMessage(store, channels, principal.orgId, row.id, request.body, actorOf(principal), clock);
    return reply.status(201).send(event);
  });

  app.post('/v1/conversations/:id/messages', {
    config: { idempotent: true, permission: 'messages:send', sends: 'conversation' },
    schema: {
      tags: ['messages'], summary: 'Reply by conversation id', params: IdParams, body: SendReplyBody,
      response: { 201: SendResponse, 202: SendResponse, ...errors, 409: Problem, 422: Problem, 502: Problem },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const row = await load(request, request.params.id);
    const uploads: MediaResolver = (tx, orgId, ids, attachedTo) => attachableMedia(tx, media, { orgId, identityId: principal.identityId }, ids, attachedTo);
    const result = row.channel === 'email'
      ? await sendReply(store, principal.orgId, row.id, request.body, clock, { lifetimeMs: config.outboundLifetimeMs, maxMessageBytes: config.maxMessageBytes, metrics }, uploads)
      : await sendChannelReply(store, channels, principal.orgId, row.id, request.body, uploads, clock, { idempotencyKey: request.idempotencyKey, metrics });
    if (result.status !== 'failed') {
      // The message is committed (queued or sent): a failure to record the training pair
      // must not turn into a 5xx, which a client would retry (sending the reply twice).
      await answerPendingSuggestion(store, principal, { conversationId: row.id, messageId: result.messageId, text: request.body.text }, clock)
        .catch((err: unknown) => request.log.error({ err }, 'recording the answer to a pending suggestion failed'));
    }
    return sendResponse(store, principal.orgId, result, reply, row.channel !== 'email');
  });
}
