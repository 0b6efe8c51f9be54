/**
 * Inbox commands on a conversation (SPEC section 6): `POST …/read`, `POST …/unread`,
 * `PUT|DELETE …/star`, `POST …/assign`, `POST …/notes`, `POST …/calls`. Each answers
 * with the conversation after the change (notes and calls with the item created).
 */
import Type from 'typebox';
import { AppError } from '../../errors.js';
import { actorOf } from '../../services/access.js';
import { markUnread, patchConversation } from '../../services/conversations.js';
import { sendReadReceipt } from '../../services/channel-signals.js';
import { assertNotReleased } from '../../services/send-channel.js';
import { addNote, assign, logCall, markRead } from '../../services/inbox.js';
import { principalOf } from '../auth.js';
import { instant } from '../conversation-filter.js';
import { callView, conversationView, noteView } from '../presenters.js';
import { Call, Conversation, IdParams, Note, Problem } from '../schemas.js';
import { visibleConversation } from '../scope.js';
import type { Api, ApiContext } from '../app.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem };

const AssignBody = Type.Object({
  assigned_to: Type.Union([Type.String({ maxLength: 100 }), Type.Null()], { description: 'a member id, `me` (the member the key acts as), or null to unassign' }),
}, { additionalProperties: false });

const NoteBody = Type.Object({ text: Type.String({ minLength: 1, maxLength: 100_000 }) }, { additionalProperties: false });

const CallBody = Type.Object({
  direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
  duration_s: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, description: 'seconds' }),
  started_at: Type.Optional(Type.String({ format: 'date-time', description: 'when the call started; default now' })),
  summary: Type.Optional(Type.Union([Type.String({ maxLength: 100_000 }), Type.Null()])),
  transcript: Type.Optional(Type.Union([Type.String({ maxLength: 2_000_000 }), Type.Null()])),
  recording_url: Type.Optional(Type.Union([Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }), Type.Null()])),
}, { additionalProperties: false });

const ReadResponse = Type.Object({
  updated_count: Type.Integer({ description: 'unread messages this cleared; 0 when none were unread' }),
  conversation: Conversation,
});

export function inboxRoutes(app: Api, { store, clock, channels }: ApiContext): void {
  /** The caller's principal, after checking it may see the conversation. */
  const caller = async (request: { params: { id: string } } & Parameters<typeof principalOf>[0]) => {
    const principal = principalOf(request);
    await visibleConversation(store.db, principal, request.params.id);
    return { principal, orgId: principal.orgId, by: actorOf(principal) };
  };

  app.post('/v1/conversations/:id/read', {
    config: { permission: 'conversations:write' },
    schema: {
      tags: ['inbox'], summary: 'Mark inbound messages read (the read receipt goes out where the channel has one, even when nothing was unread)',
      params: IdParams, response: { 200: ReadResponse, ...errors, 409: Problem, 502: Problem },
    },
  }, async (request) => {
    const principal = principalOf(request);
    const row = await visibleConversation(store.db, principal, request.params.id);
    assertNotReleased(row);
    // The receipt first: a receipt refused (403, 409) or failed (502) leaves the
    // conversation unread, so the error tells the whole story and a retry is safe.
    await sendReadReceipt(store, channels, row, clock);
    const out = await markRead(store, principal.orgId, row.id, actorOf(principal), clock);
    return { updated_count: out.result.updated_count, conversation: conversationView(out.conversation) };
  });

  app.post('/v1/conversations/:id/unread', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['inbox'], summary: 'Mark unread again (unread count at least 1)', params: IdParams, response: { 200: Conversation, ...errors } },
  }, async (request) => {
    const c = await caller(request);
    return conversationView(await markUnread(store, c.orgId, request.params.id, c.by, clock));
  });

  for (const [method, starred] of [['PUT', true], ['DELETE', false]] as const) {
    app.route({
      method, url: '/v1/conversations/:id/star',
      config: { permission: 'conversations:write' },
      schema: { tags: ['inbox'], summary: starred ? 'Star' : 'Unstar', params: IdParams, response: { 200: Conversation, ...errors } },
      handler: async (request) => {
        const c = await caller(request);
        return conversationView(await patchConversation(store, c.orgId, request.params.id, { starred }, c.by, clock));
      },
    });
  }

  app.post('/v1/conversations/:id/assign', {
    config: { permission: 'conversations:write' },
    schema: { tags: ['inbox'], summary: 'Assign to a member, or unassign', params: IdParams, body: AssignBody, response: { 200: Conversation, ...errors, 422: Problem } },
  }, async (request) => {
    const c = await caller(request);
    let target = request.body.assigned_to;
    if (target === 'me') {
      if (c.principal.memberId === null) {
        throw new AppError('validation_failed', '`me` needs a key that acts as a member; this key acts as none.', {
          param: 'assigned_to', fix: 'Name the member id, or use a key created with a `member_id`.',
        });
      }
      target = c.principal.memberId;
    }
    return conversationView((await assign(store, c.orgId, request.params.id, target, c.by, clock)).conversation);
  });

  app.post('/v1/conversations/:id/notes', {
    config: { idempotent: true, permission: 'conversations:write' },
    schema: { tags: ['inbox'], summary: 'Add an internal note (never sent)', params: IdParams, body: NoteBody, response: { 201: Note, ...errors } },
  }, async (request, reply) => {
    const c = await caller(request);
    return reply.status(201).send(noteView(await addNote(store, c.orgId, request.params.id, request.body.text, c.by, clock)));
  });

  app.post('/v1/conversations/:id/calls', {
    config: { idempotent: true, permission: 'conversations:write' },
    schema: { tags: ['inbox'], summary: 'Log a call (rendered inline by /messages?include=calls)', params: IdParams, body: CallBody, response: { 201: Call, ...errors } },
  }, async (request, reply) => {
    const c = await caller(request);
    const b = request.body;
    const event = await logCall(store, c.orgId, request.params.id, {
      direction: b.direction, duration_s: b.duration_s, started_at: b.started_at ? instant(b.started_at, 'started_at') : null,
      summary: b.summary ?? null, transcript: b.transcript ?? null, recording_url: b.recording_url ?? null,
    }, c.by, clock);
    return reply.status(201).send(callView(event));
  });
}
