/**
 * Messages: first send, read one (with its raw RFC 5322 source) and attachments.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { Value } from 'typebox/value';
import type { TimelineEvent } from '../../domain/events.js';
import { AppError, notFound } from '../../errors.js';
import { isId } from '../../ids.js';
import { sendFirstChannelMessage } from '../../services/send-channel.js';
import { sendFirstMessage, type SendResult } from '../../services/send-email.js';
import { attachableMedia, MAX_MEDIA_PER_MESSAGE, mediaBytes } from '../../services/media.js';
import type { Store } from '../../store/store.js';
import { eventFromRow } from '../../store/timeline.js';
import { principalOf } from '../auth.js';
import { identityScope, visibleConversation } from '../scope.js';
import type { Principal } from '../../services/access.js';
import { messageView } from '../presenters.js';
import { sendMediaBytes } from './media.js';
import { Binary, EmailString, IdParams, Message, Problem } from '../schemas.js';
import type { Api, ApiContext } from '../app.js';

const Text = Type.String({ minLength: 1, maxLength: 1_000_000 });
const Html = Type.String({ maxLength: 5_000_000 });

/** Longest no-reply timer, ms (a year). */
const MAX_NO_REPLY_MS = 366 * 24 * 60 * 60 * 1000;
const NoReplyAfter = Type.Integer({
  minimum: 1, maximum: MAX_NO_REPLY_MS,
  description: 'arm the no-reply timer: without an inbound reply this many ms after the send, a `no_reply_expired` event is appended',
});

export const SendReplyBody = Type.Object({
  text: Text,
  html: Type.Optional(Html),
  no_reply_after: Type.Optional(NoReplyAfter),
  media_ids: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), {
    maxItems: MAX_MEDIA_PER_MESSAGE,
    description: 'uploads (`POST /v1/media`) to send with the text: email attachments, or media on channels that carry them (HTTP/LinkedIn with PUBLIC_URL set)',
  })),
}, { additionalProperties: false });

const EmailFirstMessageBody = Type.Object({
  identity_id: Type.String({ maxLength: 100 }),
  channel: Type.Optional(Type.Literal('email', { default: 'email' })),
  to: Type.Union([EmailString, Type.Array(EmailString, { minItems: 1, maxItems: 50 })]),
  cc: Type.Optional(Type.Array(EmailString, { maxItems: 50 })),
  subject: Type.String({ minLength: 1, maxLength: 998 }),
  text: Text,
  html: Type.Optional(Html),
  account_id: Type.Optional(Type.String({ maxLength: 100, description: 'mailbox to send from; by default mailboxes take turns' })),
  no_reply_after: Type.Optional(NoReplyAfter),
  media_ids: SendReplyBody.properties.media_ids,
}, { additionalProperties: false, title: 'email' });

const SmsFirstMessageBody = Type.Object({
  identity_id: Type.String({ maxLength: 100 }),
  channel: Type.Literal('sms'),
  to: Type.String({ minLength: 1, maxLength: 64, description: 'a phone number, E.164 (`+14155550100`) or written with its country code; stored in E.164' }),
  text: Type.String({ minLength: 1, maxLength: 1600, description: 'at most 1600 characters (Twilio\'s limit; longer texts go out as several segments)' }),
  account_id: Type.Optional(Type.String({ maxLength: 100, description: 'the SMS account (number) to send from; by default the identity\'s first' })),
  no_reply_after: Type.Optional(NoReplyAfter),
  media_ids: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), {
    maxItems: MAX_MEDIA_PER_MESSAGE, description: 'uploads (`POST /v1/media`) sent as MMS (Twilio `MediaUrl`; needs the server\'s PUBLIC_URL)',
  })),
}, { additionalProperties: false, title: 'sms' });

const ChatFirstMessageBody = Type.Object({
  identity_id: Type.String({ maxLength: 100 }),
  channel: Type.Union([Type.Literal('imessage'), Type.Literal('linkedin'), Type.Literal('http')]),
  to: Type.String({
    minLength: 1, maxLength: 320,
    description: 'iMessage: a phone number (stored in E.164) or an email address (lower-cased); LinkedIn and HTTP: the provider\'s id of the person (a LinkedIn profile id or URN), kept as written',
  }),
  text: Text,
  account_id: Type.Optional(Type.String({ maxLength: 100, description: 'the identity\'s account on the channel to send from; by default its first' })),
  no_reply_after: Type.Optional(NoReplyAfter),
  media_ids: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), {
    maxItems: MAX_MEDIA_PER_MESSAGE, description: 'uploads (`POST /v1/media`): iMessage attachments; signed URLs on LinkedIn and HTTP (needs PUBLIC_URL)',
  })),
}, { additionalProperties: false, title: 'imessage, linkedin, http' });

const FirstMessageBody = Type.Union([EmailFirstMessageBody, SmsFirstMessageBody, ChatFirstMessageBody], {
  description: 'an email (the default `channel`; `subject` required), or a message on `sms`, `imessage`, `linkedin` or `http` (no subject)',
});

/** The schema of a first send on each channel but email, with the fields it takes (for error messages). */
const CHANNEL_BODIES: Readonly<Record<string, { readonly schema: typeof SmsFirstMessageBody | typeof ChatFirstMessageBody; readonly name: string }>> = {
  sms: { schema: SmsFirstMessageBody, name: 'an SMS' },
  imessage: { schema: ChatFirstMessageBody, name: 'an iMessage' },
  linkedin: { schema: ChatFirstMessageBody, name: 'a LinkedIn message' },
  http: { schema: ChatFirstMessageBody, name: 'an HTTP-channel message' },
};

/**
 * Validates a first send on a channel other than email against that channel's own
 * schema, so its errors name its fields (the union's validation reports the email
 * branch's first error: "subject is required" for an iMessage).
 */
async function channelBodyFirst(request: FastifyRequest): Promise<void> {
  const body = request.body as { channel?: unknown } | null;
  if (!body || typeof body !== 'object' || typeof body.channel !== 'string') return;
  const branch = CHANNEL_BODIES[body.channel];
  if (!branch) return;
  const [first] = Value.Errors(branch.schema, body);
  if (!first) return;
  const path = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (first.schemaPath.endsWith('/additionalProperties')) {
    const fields = Object.keys(branch.schema.properties).filter((f) => f !== 'channel').join(', ');
    throw new AppError('validation_failed', `${path} is not a field of ${branch.name} send (${fields}).`, { param: path });
  }
  const required = (first.params as { requiredProperties?: string[] }).requiredProperties?.[0];
  if (required) throw new AppError('validation_failed', `${required} is required for ${branch.name} send.`, { param: required });
  throw new AppError('validation_failed', `${path || 'body'} ${first.message}`, { param: path || undefined });
}

export const SendResponse = Type.Object({ conversation_id: Type.String(), message: Message });

/** Message resources for `message` events, with each one's current delivery status. */
export async function loadMessageViews(store: Store, orgId: string, events: readonly TimelineEvent[]) {
  const messages = events.filter((e): e is TimelineEvent & { type: 'message' } => e.type === 'message');
  if (messages.length === 0) return [];
  const rows = await store.db.selectFrom('messages').select(['id', 'status', 'error', 'provider_message_id', 'conversation_id'])
    .where('org_id', '=', orgId).where('id', 'in', messages.map((m) => m.data.message_id)).execute();
  const current = new Map(rows.map((r) => [r.id, r]));
  return messages.map((m) => messageView(m, current.get(m.data.message_id)));
}

async function findMessageEvent(store: Store, orgId: string, id: string) {
  if (!isId('msg', id)) return undefined;
  const row = await store.db.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .selectAll('events').where('messages.org_id', '=', orgId).where('messages.id', '=', id).executeTakeFirst();
  return row ? eventFromRow(row) : undefined;
}

/** Whether the principal may see the conversation a message (or attachment) belongs to. */
async function seesConversationOf(store: Store, p: Principal, conversationId: string | null | undefined): Promise<boolean> {
  if (p.identityId === null) return true;
  if (!conversationId) return false;
  return visibleConversation(store.db, p, conversationId).then(() => true, () => false);
}

/**
 * The body of an accepted send.
 *
 * @param failedIsMessage answer a `failed` message as it is (channel sends: the provider
 *   refused it for good, a retry would not help) instead of a 502 (the SMTP relay).
 * @throws AppError `upstream_failed` (502) when the relay refused it.
 */
export async function sentBody(store: Store, orgId: string, result: SendResult, failedIsMessage = false) {
  if (result.status === 'failed' && !failedIsMessage) {
    throw new AppError('upstream_failed', `The provider did not accept the message: ${result.error}`, { retryable: true });
  }
  const event = await findMessageEvent(store, orgId, result.messageId);
  const [message] = await loadMessageViews(store, orgId, event ? [event] : []);
  return { conversation_id: result.conversationId, message: message! };
}

/**
 * The answer to a send: `202` for email, which waits in the outbound queue (`queued`) or
 * was kept in the store (`captured`); `201` for a channel message the provider took (or
 * refused for good); a 502 for a provider failure worth retrying (see {@link sentBody}).
 */
export async function sendResponse(store: Store, orgId: string, result: SendResult, reply: FastifyReply, failedIsMessage = false) {
  const accepted = result.status === 'queued' || result.status === 'captured';
  return reply.status(accepted ? 202 : 201).send(await sentBody(store, orgId, result, failedIsMessage));
}

export function messageRoutes(app: Api, { store, config, clock, media, channels, metrics }: ApiContext): void {
  const errors = { 400: Problem, 401: Problem, 404: Problem };

  app.post('/v1/messages', {
    config: { idempotent: true, permission: 'messages:send', sends: 'body' },
    schema: {
      tags: ['messages'], summary: 'Send a first message (opens a conversation): an email, an SMS, an iMessage, a LinkedIn or HTTP-channel message', body: FirstMessageBody,
      response: { 201: SendResponse, 202: SendResponse, ...errors, 409: Problem, 422: Problem, 502: Problem },
    },
    preValidation: channelBodyFirst,
  }, async (request, reply) => {
    const principal = principalOf(request);
    const { orgId } = principal;
    const b = request.body;
    identityScope(principal, b.identity_id);
    if (!isId('idn', b.identity_id)) throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
    if (b.channel !== undefined && b.channel !== 'email') {
      // The union's other branches (channelBodyFirst checked this body against its channel's).
      const c = b as Static<typeof SmsFirstMessageBody> | Static<typeof ChatFirstMessageBody>;
      const sent = await sendFirstChannelMessage(store, channels, orgId, {
        identity_id: c.identity_id, channel: c.channel, to: c.to, text: c.text, account_id: c.account_id, no_reply_after: c.no_reply_after,
        media_ids: c.media_ids,
      }, (tx, org, ids, attachedTo) => attachableMedia(tx, media, { orgId: org, identityId: principal.identityId }, ids, attachedTo),
      clock, { idempotencyKey: request.idempotencyKey, metrics });
      return sendResponse(store, orgId, sent, reply, true);
    }
    const result = await sendFirstMessage(store, orgId, {
      identity_id: b.identity_id, to: ([] as string[]).concat(b.to), cc: b.cc, subject: b.subject,
      text: b.text, html: b.html, account_id: b.account_id, no_reply_after: b.no_reply_after, media_ids: b.media_ids,
    }, clock, { lifetimeMs: config.outboundLifetimeMs, maxMessageBytes: config.maxMessageBytes, metrics },
    (tx, org, ids, attachedTo) => attachableMedia(tx, media, { orgId: org, identityId: principal.identityId }, ids, attachedTo));
    return sendResponse(store, orgId, result, reply);
  });

  app.get('/v1/messages/:id', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['messages'], summary: 'One message', params: IdParams, response: { 200: Message, ...errors } },
  }, async (request) => {
    const principal = principalOf(request);
    const { orgId } = principal;
    const event = await findMessageEvent(store, orgId, request.params.id);
    if (!event || !await seesConversationOf(store, principal, event.conversation_id)) throw notFound('message');
    return (await loadMessageViews(store, orgId, [event]))[0];
  });

  app.get('/v1/messages/:id/raw', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['messages'], summary: 'The raw RFC 5322 message (message/rfc822)', params: IdParams, response: { 200: Binary, ...errors } },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const id = request.params.id;
    const row = isId('msg', id)
      ? await store.db.selectFrom('raw_messages').innerJoin('messages', 'messages.id', 'raw_messages.message_id')
        .select(['raw_messages.raw', 'messages.conversation_id'])
        .where('raw_messages.org_id', '=', principal.orgId).where('raw_messages.message_id', '=', id).executeTakeFirst()
      : undefined;
    if (!row || !await seesConversationOf(store, principal, row.conversation_id)) throw notFound('message');
    return reply.type('message/rfc822').send(Buffer.from(row.raw));
  });

  app.get('/v1/media/:id', {
    config: { permission: 'conversations:read' },
    schema: { tags: ['messages'], summary: 'Download an attachment or an upload', params: IdParams, response: { 200: Binary, ...errors } },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const id = request.params.id;
    const row = isId('med', id)
      ? await store.db.selectFrom('media').leftJoin('messages', 'messages.id', 'media.message_id')
        .select(['media.content', 'media.storage_key', 'media.content_type', 'media.filename', 'media.message_id', 'media.identity_id', 'messages.conversation_id'])
        .where('media.org_id', '=', principal.orgId).where('media.id', '=', id).executeTakeFirst()
      : undefined;
    // An upload not yet attached belongs to the uploader's scope (the org, or the identity of a scoped key).
    const visible = row && (row.message_id === null
      ? principal.identityId === null || row.identity_id === principal.identityId
      : await seesConversationOf(store, principal, row.conversation_id));
    const bytes = visible ? await mediaBytes(media, row) : null;
    if (!row || !bytes) throw notFound('media');
    return sendMediaBytes(reply, row, bytes);
  });
}
