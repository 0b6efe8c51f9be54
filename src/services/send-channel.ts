/**
 * Messages out on every channel but email: send by conversation id, or a first message
 * to an address. The message is committed (`queued`) before the provider is called, so
 * nothing acknowledged is lost; the provider's answer is appended as `message_status`. A
 * provider that fails with a 5xx, a timeout or a refused connection makes the send a 502
 * `upstream_failed` (`retryable: true`); the message stays on the timeline as `failed`,
 * and a retry with the same `Idempotency-Key` sends that message again (the idempotency
 * layer keeps no 5xx answer, so the retry runs the send again: the key kept on the
 * message is what makes it one message, sent once).
 */
import type { Transaction } from 'kysely';
import { IDEMPOTENCY_TTL_MS } from '../domain/idempotency.js';
import { isoNow, systemClock, type Clock } from '../clock.js';
import type { ChannelAdapter, OutboundMedia } from '../channels/adapter.js';
import { HEALTHY_STATUSES, UpstreamError } from '../channels/adapter.js';
import type { Channel, MediaRef, MessageData } from '../domain/events.js';
import { ADDRESS_FORMS, canonicalAddress } from '../domain/addresses.js';
import { snippetOf } from '../domain/snippet.js';
import { AppError, notFound } from '../errors.js';
import { newId } from '../ids.js';
import { addParticipants, ensureContacts } from '../store/contacts.js';
import { createConversation, findConversation } from '../store/conversations.js';
import { findAccount, type AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { inOrgTransaction } from '../store/sequences.js';
import type { Store } from '../store/store.js';
import { appendEvents, eventFromRow, type ConversationRow } from '../store/timeline.js';
import { setAccountHealth, type AccountChannel } from './channel-accounts.js';
import { assertRecipientsAllowed } from './contact-rules.js';
import { getIdentity } from './identities.js';
import { findChannelConversation, recordProviderId } from './ingest-channel.js';
import type { ReplyInput, SendResult } from './send-email.js';
import type { Metrics } from '../observability/metrics.js';

/** The adapter of each channel this server can send on (email is services/send-email.ts). */
export type ChannelAdapters = Partial<Record<Channel, ChannelAdapter>>;

/** A reply on a non-email channel: text and, where the channel takes them, uploaded media. */
export interface ChannelReplyInput extends ReplyInput {
  /** `med_…` ids from `POST /v1/media`. */
  readonly media_ids?: readonly string[];
}

/**
 * The adapter for a conversation's channel.
 *
 * @throws AppError `validation_failed` when this server has no adapter for it.
 */
export function adapterFor(adapters: ChannelAdapters, channel: string): ChannelAdapter {
  const adapter = adapters[channel as Channel];
  if (!adapter) throw new AppError('validation_failed', `This server cannot send on the ${channel} channel.`);
  return adapter;
}

/**
 * Refuses to act in a conversation whose shared-line connection was released (sends,
 * reactions, read receipts, typing).
 *
 * @throws AppError `connection_released` (409).
 */
export function assertNotReleased(conversation: ConversationRow): void {
  if (conversation.connection_status === 'released') {
    throw new AppError('connection_released', `${conversation.counterpart ?? 'The person'} released the connection on this shared line.`);
  }
}

/**
 * Refuses to act through an account that is not healthy, or in a conversation whose
 * shared-line connection was released.
 *
 * @throws AppError `sender_disconnected` (409), `connection_released` (409).
 */
export function assertCanSend(conversation: ConversationRow, account: AccountRow): void {
  assertNotReleased(conversation);
  if (!(HEALTHY_STATUSES as readonly string[]).includes(account.status)) {
    throw new AppError('sender_disconnected',
      `The sending account ${account.id} (${account.address}) is ${account.status}${account.status_reason ? `: ${account.status_reason}` : ''}.`);
  }
}

/**
 * The account a conversation sends through (its own: one person is one conversation per
 * account).
 *
 * @throws AppError `sender_disconnected` (409) when the account was deleted: the
 *   conversation keeps its history, but nothing can go out through it (seed 004: a
 *   missing sender account is `senderDisconnected`).
 */
export async function sendingAccount(db: Store['db'], conversation: ConversationRow): Promise<AccountRow> {
  const account = await findAccount(db, conversation.org_id, conversation.account_id);
  if (account) return account;
  throw new AppError('sender_disconnected', `The account this conversation went through (${conversation.account_id}) was deleted.`, {
    fix: 'Add an account on the channel to the identity (POST /v1/channel_accounts) and start a new conversation with POST /v1/messages; this one keeps its history.',
  });
}

/** What an idempotent send was called with: the request's `Idempotency-Key`. */
export interface ChannelSendOptions {
  /**
   * The request's `Idempotency-Key` (unique per org). It is kept on the message; a retry
   * with it after a 502 sends that message again instead of committing another.
   */
  readonly idempotencyKey?: string | null;
  /** Counts each hand-over to the provider by outcome (`switchboard_send_messages_total`); nothing when unset. */
  readonly metrics?: Metrics;
}

/** A message committed (or found again) and about to go to the adapter. */
interface Pending {
  readonly conversation: ConversationRow;
  readonly account: AccountRow;
  readonly adapter: ChannelAdapter;
  readonly messageId: string;
  readonly to: string;
  readonly text: string;
  readonly outbound: OutboundMedia[];
  /** A retry of a message that failed before: its status is reset, whatever the adapter says. */
  readonly retry: boolean;
}

/**
 * Loads the uploads a send names (`media_ids`) inside the send's transaction `tx`: ones
 * not attached yet, or, for a retry of a failed message, the ones attached to it
 * (`attachedTo`).
 *
 * @throws AppError for ids the sender may not attach.
 */
export type MediaResolver = (
  tx: Transaction<Database>, orgId: string, ids: readonly string[], attachedTo?: string,
) => Promise<{ refs: MediaRef[]; outbound: OutboundMedia[] }>;

/** The message an Idempotency-Key created within the key's lifetime, with its event's data. */
async function keyedMessage(tx: Transaction<Database>, orgId: string, key: string, clock: Clock) {
  const since = new Date(clock.now() - IDEMPOTENCY_TTL_MS).toISOString();
  const row = await tx.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .selectAll('events').select(['messages.status as message_status', 'messages.error as message_error'])
    .where('messages.org_id', '=', orgId).where('messages.idempotency_key', '=', key)
    .where('messages.direction', '=', 'outbound').where('messages.created_at', '>=', since)
    .orderBy('messages.created_at', 'desc').limit(1).executeTakeFirst();
  if (!row) return undefined;
  const event = eventFromRow(row);
  if (event.type !== 'message') return undefined;
  return { data: event.data, conversationId: event.conversation_id, status: row.message_status, error: row.message_error };
}

/**
 * What a send with an Idempotency-Key that already created a message does: a `failed`
 * message is sent again (the earlier attempt got a 502); any other is answered as it is.
 *
 * @throws AppError `idempotency_conflict` when the earlier message is not this request's
 *   (another conversation, recipient or text), `sender_disconnected`, `connection_released`.
 */
async function resumeKeyed(
  tx: Transaction<Database>, adapters: ChannelAdapters, orgId: string,
  earlier: NonNullable<Awaited<ReturnType<typeof keyedMessage>>>,
  expected: { conversationId?: string; identityId?: string; to?: string; text: string },
  media: MediaResolver,
): Promise<{ pending: Pending } | { done: SendResult }> {
  const conversation = await findConversation(tx, orgId, earlier.conversationId);
  const same = conversation && earlier.data.text === expected.text
    && (expected.conversationId === undefined || expected.conversationId === conversation.id)
    && (expected.identityId === undefined || expected.identityId === conversation.identity_id)
    && (expected.to === undefined || expected.to === conversation.counterpart);
  if (!same) {
    throw new AppError('idempotency_conflict', 'This Idempotency-Key already sent another message.', { param: 'Idempotency-Key' });
  }
  const messageId = earlier.data.message_id;
  if (earlier.status !== 'failed') {
    return { done: { conversationId: conversation.id, messageId, status: 'sent', error: null } };
  }
  const account = await sendingAccount(tx, conversation);
  if (!conversation.counterpart) throw notFound('conversation');
  assertCanSend(conversation, account);
  const adapter = adapterFor(adapters, conversation.channel);
  const ids = earlier.data.media.map((m) => m.id);
  const outbound = ids.length ? (await media(tx, orgId, ids, messageId)).outbound : [];
  return { pending: { conversation, account, adapter, messageId, to: conversation.counterpart, text: earlier.data.text ?? '', outbound, retry: true } };
}

/**
 * Commits an outbound message (`queued`) in `conversation` through `account`, after the
 * recipient and media checks.
 *
 * @throws AppError `recipient_blocked`, `validation_failed` (media on a channel without media).
 */
async function commitChannelMessage(
  tx: Transaction<Database>, conversation: ConversationRow, account: AccountRow, adapter: ChannelAdapter,
  input: ChannelReplyInput, key: string | null, media: MediaResolver, clock: Clock,
): Promise<Pending> {
  const orgId = conversation.org_id;
  const counterpart = conversation.counterpart!;
  await assertRecipientsAllowed(tx, orgId, conversation.identity_id, [{ address: counterpart, param: 'to' }]);
  const ids = input.media_ids ?? [];
  if (ids.length > 0 && !adapter.supportsMedia) {
    throw new AppError('validation_failed', `The ${conversation.channel} channel does not carry media on this server.`, {
      param: 'media_ids', fix: 'Send the text without `media_ids` (on the HTTP channel, media needs the server\'s PUBLIC_URL set).',
    });
  }
  const attached = ids.length ? await media(tx, orgId, ids) : { refs: [], outbound: [] };
  const now = new Date(clock.now());
  const nowIso = now.toISOString();
  const messageId = newId('msg');
  const data: MessageData = {
    message_id: messageId, direction: 'outbound', channel: conversation.channel as Channel, account_id: account.id,
    from: { address: account.address, name: account.display_name }, to: [{ address: counterpart, name: null }], cc: [], reply_to: [],
    subject: null, text: input.text, html: null, snippet: snippetOf(input.text, null), media: attached.refs,
    provider_message_id: null, status: 'queued', headers: { message_id: null, in_reply_to: null, references: [] },
    sent_at: nowIso, parse_problems: [],
    ...(input.no_reply_after !== undefined ? { no_reply_at: new Date(now.getTime() + input.no_reply_after).toISOString() } : {}),
  };
  const { events } = await appendEvents(tx, conversation, [{ type: 'message', at: nowIso, data }]);
  await tx.insertInto('messages').values({
    id: messageId, org_id: orgId, conversation_id: conversation.id, event_id: events[0]!.id,
    direction: 'outbound', status: 'queued', error: null, provider_message_id: null, idempotency_key: key,
    created_at: nowIso, updated_at: nowIso,
  }).execute();
  if (attached.refs.length) {
    await tx.updateTable('media').set({ message_id: messageId }).where('org_id', '=', orgId).where('id', 'in', attached.refs.map((r) => r.id))
      .where('message_id', 'is', null).execute();
  }
  await tx.updateTable('channel_accounts').set({ last_sent_at: nowIso }).where('id', '=', account.id).execute();
  return { conversation, account, adapter, messageId, to: counterpart, text: input.text, outbound: attached.outbound, retry: false };
}

/**
 * Hands a committed message to its adapter and records the answer (`message_status`,
 * the provider id, the account's health).
 *
 * @throws AppError `upstream_failed` (502, retryable) when the provider failed in a way a retry may fix.
 */
async function deliver(store: Store, orgId: string, p: Pending, clock: Clock, metrics?: Metrics): Promise<SendResult> {
  let status: 'queued' | 'sent' | 'failed';
  let error: string | null = null;
  let providerMessageId: string | null = null;
  let partIds: readonly string[] = [];
  let upstream: UpstreamError | null = null;
  try {
    const outcome = await p.adapter.send({
      account: p.account, messageId: p.messageId, conversationId: p.conversation.id, to: p.to, text: p.text, media: p.outbound,
    });
    status = outcome.status;
    providerMessageId = outcome.providerMessageId;
    partIds = outcome.partIds ?? [];
  } catch (err) {
    // Whatever failed (the provider, or reading the media for it), the message is failed,
    // never left queued; only an UpstreamError a retry may fix is a 502.
    upstream = err instanceof UpstreamError ? err : new UpstreamError((err as Error).message || 'the send failed', { retryable: true });
    status = 'failed';
    error = upstream.message;
    if (upstream.accountStatus) await setAccountHealth(store, p.account, upstream.accountStatus, upstream.message, clock);
  }
  await inOrgTransaction(store, orgId, async (tx) => {
    const conversation = await findConversation(tx, orgId, p.conversation.id);
    if (!conversation) return;
    const at = isoNow(clock);
    const current = await tx.selectFrom('messages').select(['status', 'provider_message_id']).where('id', '=', p.messageId).executeTakeFirst();
    if (providerMessageId && !current?.provider_message_id) await recordProviderId(tx, p.account, providerMessageId, p.messageId, conversation.id);
    for (const part of partIds) await recordProviderId(tx, p.account, part, p.messageId, conversation.id);
    // A status callback or echo may have arrived while the provider was answering: never
    // move the message back (a retry takes a failed message back to queued, and says so).
    if (current && current.status !== 'queued' && current.status !== 'failed' && !p.retry) return;
    if (status !== 'queued' || p.retry) {
      await appendEvents(tx, conversation, [{ type: 'message_status', at, data: { message_id: p.messageId, status, error } }]);
    }
    await tx.updateTable('messages').set({ status, error, provider_message_id: current?.provider_message_id ?? providerMessageId, updated_at: at })
      .where('id', '=', p.messageId).execute();
  });
  metrics?.sendMessages.inc({ channel: p.conversation.channel, outcome: upstream?.retryable ? 'upstream_failed' : status });
  if (upstream?.retryable) {
    throw new AppError('upstream_failed', `The ${p.conversation.channel} provider failed: ${upstream.message}`, {
      retryable: true, fix: 'Retry with the same Idempotency-Key: the same message is sent again, never a second one.',
    });
  }
  return { conversationId: p.conversation.id, messageId: p.messageId, status: status === 'failed' ? 'failed' : 'sent', error };
}

/**
 * Replies in a non-email conversation by its id, through the conversation's account.
 * With an Idempotency-Key that already created a message, that message is sent again if
 * it failed, and answered as it is otherwise.
 *
 * @returns `status: 'failed'` (with the provider's `error`) when the provider refused the
 *   message for good (an invalid number, refused credentials); `sent` once it accepted it.
 * @throws AppError `not_found`, `connection_released`, `sender_disconnected`,
 *   `recipient_blocked`, `validation_failed` (media on a channel without media, unknown
 *   media id), `idempotency_conflict`, `upstream_failed` (502, retryable: the provider
 *   failed; the message is recorded as `failed`).
 */
export async function sendChannelReply(
  store: Store, adapters: ChannelAdapters, orgId: string, conversationId: string, input: ChannelReplyInput,
  media: MediaResolver, clock: Clock = systemClock, options: ChannelSendOptions = {},
): Promise<SendResult> {
  const key = options.idempotencyKey ?? null;
  const prepared = await inOrgTransaction(store, orgId, async (tx): Promise<{ pending: Pending } | { done: SendResult }> => {
    const earlier = key ? await keyedMessage(tx, orgId, key, clock) : undefined;
    if (earlier) return resumeKeyed(tx, adapters, orgId, earlier, { conversationId, text: input.text }, media);
    const conversation = await findConversation(tx, orgId, conversationId);
    if (!conversation) throw notFound('conversation');
    const account = await sendingAccount(tx, conversation);
    if (!conversation.counterpart) throw notFound('conversation');
    assertCanSend(conversation, account);
    const adapter = adapterFor(adapters, conversation.channel);
    return { pending: await commitChannelMessage(tx, conversation, account, adapter, input, key, media, clock) };
  });
  return 'done' in prepared ? prepared.done : deliver(store, orgId, prepared.pending, clock, options.metrics);
}

/** A first message on a non-email channel. */
export interface FirstChannelMessageInput extends ChannelReplyInput {
  readonly identity_id: string;
  readonly channel: AccountChannel;
  /** The recipient's address on the channel (a phone number for SMS: normalized to E.164). */
  readonly to: string;
  /** An account of the identity on `channel`; by default its first (oldest) one. */
  readonly account_id?: string;
}

/**
 * Sends a first message on a non-email channel: in the identity's conversation with `to`
 * through the account (the existing one, since one person is one conversation per
 * account, or a new one), then exactly as {@link sendChannelReply}.
 *
 * @throws AppError `not_found` (identity, `account_id`), `validation_failed` (`to` is not
 *   an address on the channel), `no_sender` (the identity has no account on the channel),
 *   and what {@link sendChannelReply} throws.
 */
export async function sendFirstChannelMessage(
  store: Store, adapters: ChannelAdapters, orgId: string, input: FirstChannelMessageInput,
  media: MediaResolver, clock: Clock = systemClock, options: ChannelSendOptions = {},
): Promise<SendResult> {
  await getIdentity(store.db, orgId, input.identity_id).catch(() => {
    throw new AppError('not_found', 'No identity with that id.', { param: 'identity_id' });
  });
  const to = canonicalAddress(input.channel, input.to);
  if (!to) {
    throw new AppError('validation_failed', `"${input.to}" is not an address on the ${input.channel} channel: send ${ADDRESS_FORMS[input.channel]}.`, { param: 'to' });
  }
  const key = options.idempotencyKey ?? null;
  const prepared = await inOrgTransaction(store, orgId, async (tx): Promise<{ pending: Pending } | { done: SendResult }> => {
    const earlier = key ? await keyedMessage(tx, orgId, key, clock) : undefined;
    if (earlier) return resumeKeyed(tx, adapters, orgId, earlier, { identityId: input.identity_id, to, text: input.text }, media);
    let account: AccountRow | undefined;
    if (input.account_id) {
      account = await findAccount(tx, orgId, input.account_id);
      if (!account || account.identity_id !== input.identity_id || account.channel !== input.channel) {
        throw new AppError('not_found', `No ${input.channel} account of this identity with that id.`, { param: 'account_id' });
      }
      if (account.pool === 1) {
        // Its replies would be routed by code, not to this identity (services/router.ts).
        throw new AppError('validation_failed', 'A shared line cannot open a conversation: people connect to an identity on it by texting its routing code.', {
          param: 'account_id', fix: 'Send from one of the identity\'s own (not shared) accounts, or wait for the person to text the routing code.',
        });
      }
    } else {
      account = await tx.selectFrom('channel_accounts').selectAll()
        .where('org_id', '=', orgId).where('identity_id', '=', input.identity_id).where('channel', '=', input.channel).where('pool', '=', 0)
        .orderBy('id').limit(1).executeTakeFirst();
      if (!account) {
        throw new AppError('no_sender', `The identity has no ${input.channel} account to send from.`, {
          param: 'identity_id', fix: `Add a ${input.channel} account to the identity (POST /v1/channel_accounts) before sending.`,
        });
      }
    }
    const adapter = adapterFor(adapters, input.channel);
    let conversation = await findChannelConversation(tx, account, input.identity_id, to);
    if (conversation) {
      assertCanSend(conversation, account);
    } else {
      await assertRecipientsAllowed(tx, orgId, input.identity_id, [{ address: to, param: 'to' }]);
      const at = isoNow(clock);
      const contacts = await ensureContacts(tx, orgId, input.channel, [{ address: to, name: null }], at);
      conversation = await createConversation(tx, {
        orgId, identityId: input.identity_id, accountId: account.id, channel: input.channel, subject: null,
        counterpart: to, contactId: contacts.get(to) ?? null, at,
      });
      assertCanSend(conversation, account);
      await addParticipants(tx, orgId, conversation.id, [to]);
    }
    return { pending: await commitChannelMessage(tx, conversation, account, adapter, input, key, media, clock) };
  });
  return 'done' in prepared ? prepared.done : deliver(store, orgId, prepared.pending, clock, options.metrics);
}
