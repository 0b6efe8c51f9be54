/**
 * Email out (SPEC section 4, rule 4): send by conversation id, or a first message that
 * opens a conversation.
 *
 * The message is committed with its raw bytes before anything else: `queued` in the
 * outbound queue when the mailbox has a relay (services/outbound-queue.ts hands it over
 * and appends each outcome as `message_status`), `captured` when it has none. So a send
 * is answered at once, and nothing acknowledged is lost.
 */
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { EmailAddress, MessageData, TimelineEvent } from '../domain/events.js';
import { snippetOf } from '../domain/snippet.js';
import { replySubject } from '../domain/subject.js';
import { composeEmail } from '../email/compose.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { addParticipants, domainOf, ensureContacts } from '../store/contacts.js';
import { createConversation, findConversation, timelineIds } from '../store/conversations.js';
import { recordMessageIds } from '../store/email-index.js';
import { findAccount, type AccountRow } from '../store/identities.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { appendEvents, eventFromRow, type ConversationRow } from '../store/timeline.js';
import { assertRecipientsAllowed } from './contact-rules.js';
import { getIdentity, mailboxConfig, returnPath } from './identities.js';
import { enqueue } from './outbound-queue.js';
import type { MediaResolver } from './send-channel.js';
import type { Metrics } from '../observability/metrics.js';

export interface ReplyInput {
  readonly text: string;
  readonly html?: string | null;
  /** Arms the no-reply timer: without an inbound reply this many ms after the send, `no_reply_expired` is appended. */
  readonly no_reply_after?: number;
  /** Uploads (`POST /v1/media`) to attach; read through the send's {@link MediaResolver}. */
  readonly media_ids?: readonly string[];
}

export interface FirstMessageInput extends ReplyInput {
  readonly identity_id: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly subject: string;
  /** A mailbox of the identity to send from; by default they take turns. */
  readonly account_id?: string;
}

export interface SendResult {
  readonly conversationId: string;
  readonly messageId: string;
  /** Email: `queued` (a relay will take it: services/outbound-queue.ts) or `captured` (the mailbox has no relay). */
  readonly status: 'queued' | 'captured' | 'sent' | 'failed';
  readonly error: string | null;
}

/** How long a queued email may wait for its relay before it fails, ms, unless `OUTBOUND_LIFETIME_MS` says otherwise. */
export const DEFAULT_OUTBOUND_LIFETIME_MS = 2 * 24 * 3_600_000;

export interface OutboundOptions {
  /** `OUTBOUND_LIFETIME_MS`. */
  readonly lifetimeMs: number;
  /** `MAX_MESSAGE_BYTES`: the composed message, attachments included, may not be larger. */
  readonly maxMessageBytes: number;
  /** Counts each send by its status (`switchboard_send_messages_total`); nothing when unset. */
  readonly metrics?: Metrics;
}

/**
 * Counts an email send once it settles: by the status it was committed with (`queued`,
 * `captured`), or `error` when the server failed (a refusal of the request, an AppError,
 * is the caller's mistake and shows in the HTTP metrics instead).
 */
async function counted(metrics: Metrics | undefined, send: Promise<SendResult>): Promise<SendResult> {
  if (!metrics) return send;
  try {
    const result = await send;
    metrics.sendMessages.inc({ channel: 'email', outcome: result.status });
    return result;
  } catch (err) {
    if (!(err instanceof AppError)) metrics.sendMessages.inc({ channel: 'email', outcome: 'error' });
    throw err;
  }
}

const DEFAULT_OUTBOUND: OutboundOptions = { lifetimeMs: DEFAULT_OUTBOUND_LIFETIME_MS, maxMessageBytes: 25 * 1024 * 1024 };

/** No uploads to resolve: a send that names `media_ids` without a resolver is refused. */
const NO_MEDIA: MediaResolver = async () => {
  throw new AppError('validation_failed', 'This send cannot carry media.', { param: 'media_ids' });
};

/** Messages read to find the one a reply answers. */
const THREAD_LOOKBACK = 50;

interface ThreadContext {
  readonly to: EmailAddress[];
  readonly cc: EmailAddress[];
  readonly inReplyTo: string | null;
  readonly references: string[];
}

/**
 * What a reply in this conversation answers: the latest message with a Message-ID
 * gives In-Reply-To and References; the latest inbound message gives the recipient
 * (its Reply-To, else its From) and its other recipients go on Cc.
 */
async function threadContext(tx: Transaction<Database>, conversation: ConversationRow, own: string): Promise<ThreadContext> {
  const rows = await tx.selectFrom('events').selectAll()
    .where('conversation_id', 'in', await timelineIds(tx, conversation.org_id, conversation.id)).where('type', '=', 'message')
    .orderBy('at', 'desc').orderBy('seq', 'desc').limit(THREAD_LOOKBACK).execute();
  const messages = rows.map(eventFromRow).map((e) => (e as Extract<TimelineEvent, { type: 'message' }>).data);
  const parent = messages.find((m) => m.headers.message_id);
  const inbound = messages.find((m) => m.direction === 'inbound');
  let to: EmailAddress[];
  let cc: EmailAddress[] = [];
  if (inbound) {
    to = inbound.reply_to.length ? [...inbound.reply_to] : inbound.from ? [inbound.from] : [];
    const skip = new Set([own, ...to.map((a) => a.address)]);
    cc = [...inbound.to, ...inbound.cc].filter((a) => !skip.has(a.address) && (skip.add(a.address), true));
  } else {
    const last = messages[0];
    to = last ? [...last.to] : [];
    cc = last ? [...last.cc] : [];
  }
  if (to.length === 0 && conversation.counterpart) to = [{ address: conversation.counterpart, name: null }];
  // RFC 5322 section 3.6.4: the parent's References (or, without them, its one
  // In-Reply-To id), then the parent's own id.
  const parentRefs = parent?.headers.references.length ? parent.headers.references : parent?.headers.in_reply_to ? [parent.headers.in_reply_to] : [];
  const references = parent ? [...new Set([...parentRefs, parent.headers.message_id!])] : [];
  return { to, cc, inReplyTo: parent?.headers.message_id ?? null, references };
}

/**
 * The mailbox a conversation sends from: its own (SPEC section 4, rule 4: recipient
 * affinity). When that mailbox was deleted the reply is refused rather than sent from
 * another address the person never wrote to (seed 004: a missing sender account is
 * `senderDisconnected`, and the agent must not send until it is reconnected).
 *
 * @throws AppError `sender_disconnected` (409) when the conversation's mailbox is gone.
 */
async function conversationMailbox(tx: Transaction<Database>, conversation: ConversationRow): Promise<AccountRow> {
  const own = await findAccount(tx, conversation.org_id, conversation.account_id);
  if (own) return own;
  throw new AppError('sender_disconnected', `The mailbox this conversation was sent and received through (${conversation.account_id}) was deleted, so a reply cannot come from the address the person wrote to.`, {
    fix: 'Start a new conversation from another mailbox with POST /v1/messages (identity_id, to, subject, text); this one keeps its history.',
  });
}

/** The identity's mailbox that sent longest ago (new conversations rotate over them). */
async function rotateMailbox(tx: Transaction<Database>, orgId: string, identityId: string): Promise<AccountRow> {
  const row = await tx.selectFrom('channel_accounts').selectAll()
    .where('org_id', '=', orgId).where('identity_id', '=', identityId).where('channel', '=', 'email')
    .orderBy((eb) => eb.fn.coalesce('last_sent_at', eb.val('')), 'asc').orderBy('id', 'asc')
    .limit(1).executeTakeFirst();
  if (!row) throw new AppError('no_sender', 'The identity has no mailbox to send from.', { param: 'identity_id' });
  return row;
}

/**
 * Composes and commits the outgoing message in `conversation`, in the sending
 * transaction: `queued` with its outbound queue row when the mailbox has a relay (the
 * queue's worker hands it over), `captured` when it has none (kept in the store only).
 */
async function commitOutgoing(
  tx: Transaction<Database>, conversation: ConversationRow, account: AccountRow,
  input: ReplyInput, subject: string, ctx: ThreadContext, clock: Clock, outbound: OutboundOptions, media: MediaResolver,
): Promise<SendResult> {
  const now = new Date(clock.now());
  const nowIso = now.toISOString();
  const messageId = newId('msg');
  const headerId = `${messageId}@${domainOf(account.address) || 'localhost'}`;
  const from: EmailAddress = { address: account.address, name: account.display_name };
  const attached = input.media_ids?.length ? await media(tx, conversation.org_id, input.media_ids) : { refs: [], outbound: [] };
  const attachments = await Promise.all(attached.outbound.map(async (m) => ({ filename: m.filename, contentType: m.content_type, content: await m.read() })));
  const raw = await composeEmail({
    from, to: ctx.to, cc: ctx.cc, subject, text: input.text, html: input.html ?? null,
    messageId: headerId, inReplyTo: ctx.inReplyTo, references: ctx.references, date: now, attachments,
  });
  if (raw.length > outbound.maxMessageBytes) {
    throw new AppError('payload_too_large', `The message with its attachments is ${raw.length} bytes; the limit is ${outbound.maxMessageBytes}.`, {
      param: 'media_ids', fix: 'Attach fewer or smaller files, or send a link to them.',
    });
  }
  const status = mailboxConfig(account).smtp ? 'queued' : 'captured';
  const data: MessageData = {
    message_id: messageId, direction: 'outbound', channel: 'email', account_id: account.id,
    from, to: ctx.to, cc: ctx.cc, reply_to: [], subject, text: input.text, html: input.html ?? null,
    snippet: snippetOf(input.text, input.html ?? null), media: attached.refs, provider_message_id: headerId, status,
    headers: { message_id: headerId, in_reply_to: ctx.inReplyTo, references: ctx.references },
    sent_at: nowIso, parse_problems: [],
    ...(input.no_reply_after !== undefined ? { no_reply_at: new Date(now.getTime() + input.no_reply_after).toISOString() } : {}),
  };
  const { events } = await appendEvents(tx, conversation, [{ type: 'message', at: nowIso, data }]);
  await tx.insertInto('messages').values({
    id: messageId, org_id: conversation.org_id, conversation_id: conversation.id, event_id: events[0]!.id,
    direction: 'outbound', status, error: null, provider_message_id: headerId, created_at: nowIso, updated_at: nowIso,
  }).execute();
  await tx.insertInto('raw_messages').values({ message_id: messageId, org_id: conversation.org_id, raw }).execute();
  if (attached.refs.length) {
    await tx.updateTable('media').set({ message_id: messageId })
      .where('org_id', '=', conversation.org_id).where('id', 'in', attached.refs.map((r) => r.id)).execute();
  }
  await recordMessageIds(tx, conversation.org_id, conversation.identity_id, [{ id: headerId, stored: true, conversationId: conversation.id }]);
  const external = [...ctx.to, ...ctx.cc];
  await ensureContacts(tx, conversation.org_id, 'email', external, nowIso);
  await addParticipants(tx, conversation.org_id, conversation.id, external.map((a) => a.address));
  await tx.updateTable('channel_accounts').set({ last_sent_at: nowIso }).where('id', '=', account.id).execute();
  if (status === 'queued') {
    const envelope = { from: returnPath(account, messageId), to: external.map((a) => a.address) };
    await enqueue(tx, { messageId, orgId: conversation.org_id, accountId: account.id, envelope }, nowIso, outbound.lifetimeMs);
  }
  return { conversationId: conversation.id, messageId, status, error: null };
}

/**
 * Replies in a conversation by its id. The server resolves the recipient, the `Re:`
 * subject, In-Reply-To, References and the sending mailbox.
 *
 * @throws AppError `not_found` (unknown or foreign conversation), `no_sender`, `recipient_blocked`.
 */
export async function sendReply(
  store: Store, orgId: string, conversationId: string, input: ReplyInput, clock: Clock = systemClock,
  outbound: OutboundOptions = DEFAULT_OUTBOUND, media: MediaResolver = NO_MEDIA,
): Promise<SendResult> {
  return counted(outbound.metrics, inOrgTransaction(store, orgId, async (tx) => {
    const conversation = await findConversation(tx, orgId, conversationId);
    if (!conversation) throw notFound('conversation');
    const account = await conversationMailbox(tx, conversation);
    const ctx = await threadContext(tx, conversation, account.address);
    if (ctx.to.length === 0) throw new AppError('validation_failed', 'The conversation has no recipient to reply to.');
    await assertRecipientsAllowed(tx, orgId, conversation.identity_id, [...ctx.to, ...ctx.cc]);
    // A conversation opened without messages (POST /v1/contacts/{id}/conversations) starts with its own subject.
    const subject = conversation.message_count === 0 ? conversation.subject ?? '' : replySubject(conversation.subject);
    return commitOutgoing(tx, conversation, account, input, subject, ctx, clock, outbound, media);
  }));
}

/**
 * Sends a first message and opens its conversation.
 *
 * @throws AppError `not_found` (identity or account), `no_sender`, `recipient_blocked`.
 */
export async function sendFirstMessage(
  store: Store, orgId: string, input: FirstMessageInput, clock: Clock = systemClock,
  outbound: OutboundOptions = DEFAULT_OUTBOUND, media: MediaResolver = NO_MEDIA,
): Promise<SendResult> {
  await getIdentity(store.db, orgId, input.identity_id).catch(() => {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  });
  return counted(outbound.metrics, inOrgTransaction(store, orgId, async (tx) => {
    let account: AccountRow;
    if (input.account_id) {
      const row = await findAccount(tx, orgId, input.account_id);
      if (!row || row.identity_id !== input.identity_id || row.channel !== 'email') {
        throw new AppError('not_found', 'No mailbox of this identity with that id.', { param: 'account_id' });
      }
      account = row;
    } else {
      account = await rotateMailbox(tx, orgId, input.identity_id);
    }
    const to = input.to.map((a) => ({ address: a.toLowerCase(), name: null }));
    const cc = (input.cc ?? []).map((a) => ({ address: a.toLowerCase(), name: null }));
    await assertRecipientsAllowed(tx, orgId, input.identity_id, [...to.map((a) => ({ ...a, param: 'to' })), ...cc.map((a) => ({ ...a, param: 'cc' }))]);
    const contacts = await ensureContacts(tx, orgId, 'email', to, isoNow(clock));
    const conversation = await createConversation(tx, {
      orgId, identityId: input.identity_id, accountId: account.id, channel: 'email', subject: input.subject,
      counterpart: to[0]!.address, contactId: contacts.get(to[0]!.address) ?? null, at: isoNow(clock),
    });
    return commitOutgoing(tx, conversation, account, input, input.subject, { to, cc, inReplyTo: null, references: [] }, clock, outbound, media);
  }));
}
