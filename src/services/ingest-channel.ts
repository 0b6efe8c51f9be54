/**
 * Messages in on every channel but email (SPEC section 4): what an adapter translated
 * from its provider becomes a `message` event in the conversation of the identity, the
 * account and the counterpart, deduplicated by the provider's message id, with contacts,
 * contact rules, the SLA clock and projections exactly as for email. Delivery status
 * callbacks become `message_status` events, never moving a message's status backwards.
 */
import type { Transaction } from 'kysely';
import { systemClock, type Clock } from '../clock.js';
import { MESSAGE_STATUS_RANK, type Channel, type MediaRef, type MessageData, type MessageStatus } from '../domain/events.js';
import { snippetOf } from '../domain/snippet.js';
import { newId } from '../ids.js';
import { addParticipants, ensureContacts } from '../store/contacts.js';
import { findConversation, liveConversation, newConversationRow } from '../store/conversations.js';
import type { AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { groupCommitter } from '../store/group-commit.js';
import { inOrgTransaction } from '../store/sequences.js';
import { getSlaPolicy } from '../store/sla.js';
import type { Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { markBlocked, type IngestResult } from './ingest-email.js';

/** An attachment that arrived with a message, already fetched from the provider. */
export interface InboundMedia {
  readonly filename: string | null;
  readonly content_type: string;
  readonly content: Buffer;
}

/** One inbound message as an adapter translated it. */
export interface InboundMessage {
  /** The counterpart's address, normalized by the adapter (E.164 for SMS). */
  readonly from: string;
  readonly fromName?: string | null;
  readonly text: string | null;
  readonly media?: readonly InboundMedia[];
  /** The provider's id (Twilio MessageSid, BlueBubbles guid, …): the dedup key, per account. */
  readonly providerMessageId: string;
  /** When the provider says it was sent (RFC 3339); never later than now. Now by default. */
  readonly sentAt?: string | null;
}

/** A provider's send time as RFC 3339 UTC, or null when missing, unreadable or later than `nowIso` (clocks differ). */
function sentAtOf(sentAt: string | null | undefined, nowIso: string): string | null {
  if (!sentAt) return null;
  const ms = Date.parse(sentAt);
  if (!Number.isFinite(ms)) return null;
  const iso = new Date(ms).toISOString();
  return iso < nowIso ? iso : null;
}

/**
 * The conversation of an identity with a counterpart through one account (the newest, if
 * several); when that one was merged into another, the one it is part of now.
 */
export async function findChannelConversation(
  tx: Transaction<Database>, account: AccountRow, identityId: string, counterpart: string,
): Promise<ConversationRow | undefined> {
  const row = await tx.selectFrom('conversations').selectAll()
    .where('org_id', '=', account.org_id).where('account_id', '=', account.id)
    .where('counterpart', '=', counterpart).where('identity_id', '=', identityId)
    .orderBy((eb) => eb.case().when('merged_into', 'is', null).then(0).else(1).end())
    .orderBy('last_event_at', 'desc').limit(1).executeTakeFirst();
  return row && liveConversation(tx, row);
}

/** The message a provider id names on an account, or undefined. */
export async function findByProviderId(
  tx: Transaction<Database>, account: AccountRow, providerMessageId: string,
): Promise<{ message_id: string; conversation_id: string } | undefined> {
  return tx.selectFrom('provider_message_ids').select(['message_id', 'conversation_id'])
    .where('account_id', '=', account.id).where('provider_message_id', '=', providerMessageId).executeTakeFirst();
}

/** Remembers a provider id for a message (dedup, status callbacks, reactions). */
export async function recordProviderId(
  tx: Transaction<Database>, account: AccountRow, providerMessageId: string, messageId: string, conversationId: string,
): Promise<void> {
  await tx.insertInto('provider_message_ids').values({
    account_id: account.id, provider_message_id: providerMessageId, org_id: account.org_id, message_id: messageId, conversation_id: conversationId,
  }).onConflict((oc) => oc.doNothing()).execute();
}

/**
 * Stores one inbound message for `account` inside `tx` (which holds the org lock), in
 * the conversation of `identityId` (the account's identity, or the one a shared line
 * routed the person to) with `msg.from`.
 *
 * @returns `duplicate` when the provider id was stored before (nothing is written).
 */
export async function ingestChannelMessage(
  tx: Transaction<Database>, account: AccountRow, identityId: string, msg: InboundMessage, clock: Clock = systemClock,
): Promise<IngestResult & { conversation?: ConversationRow }> {
  const orgId = account.org_id;
  const known = await findByProviderId(tx, account, msg.providerMessageId);
  if (known) return { status: 'duplicate', conversationId: known.conversation_id };
  const nowIso = new Date(clock.now()).toISOString();
  const at = nowIso;
  const channel = account.channel as Channel;
  const contacts = await ensureContacts(tx, orgId, channel, [{ address: msg.from, name: msg.fromName ?? null }], nowIso);
  let conversation = await findChannelConversation(tx, account, identityId, msg.from);
  const newConversation = !conversation;
  // A new conversation is written with its first message's summary, by appendEvents below.
  conversation ??= newConversationRow({
    orgId, identityId, accountId: account.id, channel, subject: null, counterpart: msg.from,
    contactId: contacts.get(msg.from) ?? null, at,
  });
  conversation = await markBlocked(tx, conversation, msg.from, { written: !newConversation });

  const messageId = newId('msg');
  const media = await storeInboundMedia(tx, orgId, messageId, msg.media ?? [], nowIso);
  const data: MessageData = {
    message_id: messageId, direction: 'inbound', channel, account_id: account.id,
    from: { address: msg.from, name: msg.fromName ?? null }, to: [{ address: account.address, name: account.display_name }], cc: [], reply_to: [],
    subject: null, text: msg.text, html: null, snippet: snippetOf(msg.text, null), media,
    provider_message_id: msg.providerMessageId, status: 'delivered',
    headers: { message_id: null, in_reply_to: null, references: [] },
    sent_at: sentAtOf(msg.sentAt, nowIso), parse_problems: [],
  };
  const reopen = conversation.archived === 1;
  const sla = await getSlaPolicy(tx, orgId);
  const appended = await appendEvents(tx, conversation, [
    { type: 'message', at, data },
    ...(reopen ? [{ type: 'unarchived' as const, at, data: {} }] : []),
  ], { sla, now: nowIso }, { insert: newConversation });
  const event = appended.events[0]!;
  await tx.insertInto('messages').values({
    id: messageId, org_id: orgId, conversation_id: conversation.id, event_id: event.id,
    direction: 'inbound', status: 'delivered', error: null, provider_message_id: msg.providerMessageId, created_at: nowIso, updated_at: nowIso,
  }).execute();
  await recordProviderId(tx, account, msg.providerMessageId, messageId, conversation.id);
  await addParticipants(tx, orgId, conversation.id, [msg.from]);
  return { status: 'stored', conversationId: conversation.id, messageId, seq: event.seq, newConversation, conversation: appended.conversation };
}

/**
 * Receives one inbound message for a (not shared) account in a transaction that has
 * committed when this resolves (shared with messages arriving at the same time:
 * store/group-commit.ts), so the adapter's route may acknowledge the provider then.
 */
export async function receiveChannelMessage(store: Store, account: AccountRow, msg: InboundMessage, clock: Clock = systemClock): Promise<IngestResult> {
  return groupCommitter(store).run(account.org_id, (tx) => ingestChannelMessage(tx, account, account.identity_id, msg, clock));
}

async function storeInboundMedia(
  tx: Transaction<Database>, orgId: string, messageId: string, media: readonly InboundMedia[], now: string,
): Promise<MediaRef[]> {
  if (media.length === 0) return [];
  const refs = media.map((m) => ({
    ref: { id: newId('med'), filename: m.filename, content_type: m.content_type, size_bytes: m.content.length, content_id: null, disposition: 'attachment' } satisfies MediaRef,
    content: m.content,
  }));
  await tx.insertInto('media').values(refs.map(({ ref, content }) => ({
    ...ref, org_id: orgId, message_id: messageId, content, storage_key: null, identity_id: null, created_at: now,
  }))).execute();
  return refs.map((r) => r.ref);
}


/**
 * Applies a provider's delivery status for one of its message ids: appends
 * `message_status` when it moves the message forward (queued → sent → delivered|failed →
 * read); an unknown id or a status that is not newer is ignored.
 *
 * @returns whether an event was appended.
 */
export async function applyProviderStatus(
  store: Store, account: AccountRow, providerMessageId: string, status: MessageStatus, error: string | null, clock: Clock = systemClock,
): Promise<boolean> {
  return inOrgTransaction(store, account.org_id, async (tx) => {
    const known = await findByProviderId(tx, account, providerMessageId);
    if (!known) return false;
    const current = await tx.selectFrom('messages').select(['status']).where('org_id', '=', account.org_id).where('id', '=', known.message_id).executeTakeFirst();
    if (!current || MESSAGE_STATUS_RANK[status] <= MESSAGE_STATUS_RANK[current.status as MessageStatus]) return false;
    const conversation = await findConversation(tx, account.org_id, known.conversation_id);
    if (!conversation) return false;
    const at = new Date(clock.now()).toISOString();
    await appendEvents(tx, conversation, [{ type: 'message_status', at, data: { message_id: known.message_id, status, error } }]);
    await tx.updateTable('messages').set({ status, error, updated_at: at }).where('id', '=', known.message_id).execute();
    return true;
  });
}
