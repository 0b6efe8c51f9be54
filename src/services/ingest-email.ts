/**
 * Email in: one parsed message for one mailbox becomes a `message` event in the right
 * conversation (SPEC section 4), with its raw bytes, attachments, threading index,
 * participants and contacts, all in the caller's transaction.
 */
import crypto from 'node:crypto';
import type { Transaction } from 'kysely';
import { systemClock, type Clock } from '../clock.js';
import type { EmailAddress, MediaRef, MessageAuthentication, MessageData } from '../domain/events.js';
import { snippetOf } from '../domain/snippet.js';
import {
  indexEntries, lookupIds, placeMessage, subjectKey, wantsSubjectFallback, type SubjectCandidate, type ThreadingInput,
} from '../domain/threading.js';
import { TRUNCATED_PROBLEM, type ParsedEmail } from '../email/parse.js';
import { newId } from '../ids.js';
import { addParticipants, ensureContacts } from '../store/contacts.js';
import { findConversation, newConversationRow } from '../store/conversations.js';
import { lookupMessageIds, recordMessageIds } from '../store/email-index.js';
import { mergeConversations } from '../store/merge.js';
import type { AccountRow } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { getSlaPolicy } from '../store/sla.js';
import type { Db } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { blockedAmong } from './contact-rules.js';

export interface ThreadingPolicy {
  /** SPEC 4 rule 3 subject fallback; off by default. */
  readonly threadBySubject: boolean;
  /** How recent a subject-fallback match must be, ms. */
  readonly subjectFallbackWindowMs: number;
}

export interface IngestOptions {
  /**
   * Which time the event carries: `received` (now: SMTP, HTTP) or `date` (the Date
   * header, falling back to now, never later than now: imports of old mail).
   */
  readonly at: 'received' | 'date';
  /** The preview, when the caller computed it already (the import's parse pool). */
  readonly snippet?: string;
  /** Its search words (domain/search-text.ts `messageTokens`), when the caller's parse worker made them. */
  readonly tokens?: readonly string[];
  /** The time source (SLA deadlines count from it); the system clock by default. */
  readonly clock?: Clock;
  /**
   * Set for mail that arrived (SMTP, `POST /v1/inbound/email`): it is inbound whatever
   * its From says. Unset for an import, where the mailbox's own sent mail (From: the
   * mailbox) is outbound history.
   */
  readonly arrival?: ArrivalFacts;
}

/** What the receiving side learned about a message that arrived. */
export interface ArrivalFacts {
  readonly authentication: MessageAuthentication | null;
  /** It claims one of the organization's own addresses and fails DMARC alignment (and the mailbox flags such mail). */
  readonly spoofed: boolean;
  /** The plus-address tag it was sent to (`local+tag@domain`), or null. */
  readonly tag: string | null;
  /** The bytes to keep: the message with this server's `Authentication-Results` on top. */
  readonly stored: Buffer;
  /** An auto-reply cancels a no-reply timer (the mailbox's `auto_replies_stop_no_reply`). */
  readonly autoRepliesStopNoReply: boolean;
}

export type IngestResult =
  | { readonly status: 'stored'; readonly conversationId: string; readonly messageId: string; readonly seq: number; readonly newConversation: boolean }
  | { readonly status: 'duplicate'; readonly conversationId: string };

/**
 * Stores one message for `account` inside `tx`.
 *
 * A message whose Message-ID is already stored for the identity is a duplicate and
 * writes nothing. A message without a Message-ID is deduplicated by the SHA-256 of its
 * bytes.
 */
export async function ingestEmail(
  tx: Transaction<Database>,
  policy: ThreadingPolicy,
  account: AccountRow,
  raw: Buffer,
  parsed: ParsedEmail,
  options: IngestOptions,
): Promise<IngestResult> {
  const orgId = account.org_id;
  const identityId = account.identity_id;
  const now = new Date((options.clock ?? systemClock).now());
  const nowIso = now.toISOString();
  const threading = threadingInput(raw, parsed);

  const known = await lookupMessageIds(tx, orgId, identityId, lookupIds(threading));
  // Mail that arrived is inbound, whatever its From claims (a forged From is `spoofed`,
  // not ours); only an import files the mailbox's own sent mail as outbound.
  const outbound = !options.arrival && parsed.from?.address === account.address;
  const counterpart = outbound ? parsed.to[0] ?? null : parsed.from;
  let subjectCandidate: SubjectCandidate | null = null;
  if (policy.threadBySubject && counterpart && wantsSubjectFallback(threading)) {
    subjectCandidate = await findSubjectCandidate(tx, account, counterpart.address, threading.subject,
      new Date(now.getTime() - policy.subjectFallbackWindowMs).toISOString());
  }
  const placement = placeMessage(threading, known, { subjectFallback: policy.threadBySubject }, subjectCandidate);
  // A complete copy of a message held only as a truncated copy is stored beside it, and
  // named its successor (`supersedes`); every later copy is a duplicate again.
  const supersedes = placement.kind === 'duplicate' && parsed.messageId && !parsed.problems.includes(TRUNCATED_PROBLEM)
    ? await heldTruncated(tx, orgId, parsed.messageId) : null;
  if (placement.kind === 'duplicate' && !supersedes) {
    // Stored once; but a copy whose headers name ids the first did not still links them.
    const conversationId = placement.linked.length > 1
      ? (await linkConversations(tx, orgId, placement.linked, nowIso))?.id ?? placement.conversationId
      : placement.conversationId;
    await recordMessageIds(tx, orgId, identityId, indexEntries(threading, known, conversationId).filter((r) => !r.stored));
    return { status: 'duplicate', conversationId };
  }

  const at = options.at === 'date' && parsed.date && parsed.date < nowIso ? parsed.date : nowIso;
  const external = externalAddresses(parsed, account.address);
  // A message naming thousands of addresses (a huge Cc) makes contacts only of the first
  // few (the sender first); the rest stay in its headers and raw bytes.
  const contacts = await ensureContacts(tx, orgId, 'email', external.slice(0, MAX_CONTACTS_PER_MESSAGE), nowIso);

  let conversation: ConversationRow | undefined;
  if (placement.kind !== 'new') conversation = await linkConversations(tx, orgId, placement.linked, nowIso);
  const newConversation = !conversation;
  // A new conversation is written with its first message's summary, by appendEvents below.
  conversation ??= newConversationRow({
    orgId, identityId, accountId: account.id, channel: 'email', subject: parsed.subject,
    counterpart: counterpart?.address ?? null,
    contactId: counterpart ? contacts.get(counterpart.address) ?? null : null,
    at,
  });

  if (!outbound) conversation = await markBlocked(tx, conversation, parsed.from?.address ?? null, { written: !newConversation });

  const messageId = newId('msg');
  const attachments = attachmentRows(orgId, messageId, parsed, nowIso);
  if (attachments.length > 0) await tx.insertInto('media').values(attachments).execute();
  await tx.insertInto('raw_messages').values({ message_id: messageId, org_id: orgId, raw: options.arrival?.stored ?? raw }).execute();
  const data = messageData(account, parsed, messageId, outbound, attachments, options, supersedes);
  // New inbound mail brings an archived conversation back, as inboxes do; imported
  // history does not.
  const reopen = !outbound && options.at === 'received' && conversation.archived === 1;
  // Mail arriving now may start the SLA clock; imported history never does.
  const sla = !outbound && options.at === 'received' ? await getSlaPolicy(tx, orgId) : null;
  const { events } = await appendEvents(tx, conversation, [
    { type: 'message', at, data, tokens: options.tokens },
    ...(reopen ? [{ type: 'unarchived' as const, at, data: {} }] : []),
  ], { sla, now: nowIso }, { insert: newConversation });
  const event = events[0]!;
  await tx.insertInto('messages').values({
    id: messageId, org_id: orgId, conversation_id: conversation.id, event_id: event.id,
    direction: data.direction, status: data.status, error: null,
    provider_message_id: parsed.messageId, created_at: nowIso, updated_at: nowIso,
  }).execute();
  await recordMessageIds(tx, orgId, identityId, indexEntries(threading, known, conversation.id));
  await addParticipants(tx, orgId, conversation.id, external.slice(0, MAX_PARTICIPANTS_PER_MESSAGE).map((a) => a.address));
  return { status: 'stored', conversationId: conversation.id, messageId, seq: event.seq, newConversation };
}

/**
 * The one conversation that `ids` (conversations a message's ids are known in, the
 * first preferred) make up: when they are several, the message links them, and they are
 * merged into the oldest (store/merge.ts). Undefined when none of them exists.
 */
async function linkConversations(
  tx: Transaction<Database>, orgId: string, ids: readonly string[], at: string,
): Promise<ConversationRow | undefined> {
  const rows = new Map<string, ConversationRow>();
  for (const id of ids) {
    const row = await findConversation(tx, orgId, id);
    if (row && !rows.has(row.id)) rows.set(row.id, row);
  }
  if (rows.size <= 1) return rows.values().next().value;
  return mergeConversations(tx, [...rows.values()], { reason: 'threading', by: null, at });
}

/**
 * Sets `is_blocked` on each inbound message: whether a contact rule blocks its sender or
 * the conversation's counterpart for the identity. A rule deleted since lifts the mark
 * with the next message.
 *
 * @param options.written false for a new row not written yet: only the returned row is marked.
 */
export async function markBlocked(
  tx: Transaction<Database>, conversation: ConversationRow, sender: string | null, options: { readonly written: boolean } = { written: true },
): Promise<ConversationRow> {
  const addresses = [...new Set([sender, conversation.counterpart].filter((a): a is string => !!a))];
  const blocked = (await blockedAmong(tx, conversation.org_id, conversation.identity_id, addresses)).size > 0 ? 1 : 0;
  if (blocked === conversation.is_blocked) return conversation;
  if (options.written) await tx.updateTable('conversations').set({ is_blocked: blocked }).where('id', '=', conversation.id).execute();
  return { ...conversation, is_blocked: blocked };
}

/** Contacts created from one message, at most (its sender first). */
export const MAX_CONTACTS_PER_MESSAGE = 100;
/** Participants (the `with` filter) added from one message, at most. */
export const MAX_PARTICIPANTS_PER_MESSAGE = 1_000;

/** From, To, Cc and Reply-To addresses other than the mailbox's own. */
export function externalAddresses(parsed: ParsedEmail, own: string): EmailAddress[] {
  const all = [...(parsed.from ? [parsed.from] : []), ...parsed.to, ...parsed.cc, ...parsed.replyTo];
  const seen = new Set<string>([own]);
  const out: EmailAddress[] = [];
  for (const a of all) {
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    out.push(a);
  }
  return out;
}

/** The `media` rows of a message's attachments (its `media` refs are these rows' own columns). */
export function attachmentRows(orgId: string, messageId: string, parsed: ParsedEmail, now: string) {
  return parsed.attachments.map((a) => ({
    id: newId('med'), filename: a.filename, content_type: a.contentType, size_bytes: a.content.length,
    content_id: a.contentId, disposition: a.disposition, org_id: orgId, message_id: messageId, content: a.content, created_at: now,
  }));
}

/** The threading input of a message: a message without a Message-ID is known by the SHA-256 of its bytes. */
export function threadingInput(raw: Buffer, parsed: ParsedEmail): ThreadingInput {
  return {
    messageId: parsed.messageId ?? `sha256:${crypto.createHash('sha256').update(raw).digest('hex')}`,
    inReplyTo: parsed.inReplyTo,
    references: parsed.references,
    subject: parsed.subject,
  };
}

/**
 * The `message` event's data of an email stored for `account` (SPEC section 4).
 *
 * @param media the message's attachment rows ({@link attachmentRows}).
 * @param supersedes the truncated copy this complete copy replaces, or null.
 */
export function messageData(
  account: AccountRow, parsed: ParsedEmail, messageId: string, outbound: boolean,
  media: readonly ReturnType<typeof attachmentRows>[number][], options: IngestOptions, supersedes: string | null,
): MessageData {
  return {
    message_id: messageId,
    direction: outbound ? 'outbound' : 'inbound',
    channel: 'email',
    account_id: account.id,
    from: parsed.from,
    to: parsed.to,
    cc: parsed.cc,
    reply_to: parsed.replyTo,
    subject: parsed.subject,
    text: parsed.text,
    html: parsed.html,
    snippet: options.snippet ?? snippetOf(parsed.text, parsed.html),
    media: media.map((m): MediaRef => ({
      id: m.id, filename: m.filename, content_type: m.content_type, size_bytes: m.size_bytes, content_id: m.content_id, disposition: m.disposition,
    })),
    provider_message_id: parsed.messageId,
    status: outbound ? 'sent' : 'delivered',
    headers: { message_id: parsed.messageId, in_reply_to: parsed.inReplyTo[0] ?? null, references: parsed.references },
    sent_at: parsed.date,
    parse_problems: parsed.problems,
    auto_submitted: parsed.autoSubmitted,
    ...(supersedes ? { supersedes } : {}),
    ...(options.arrival ? {
      authentication: options.arrival.authentication,
      spoofed: options.arrival.spoofed,
      address_tag: options.arrival.tag,
      ...(parsed.autoSubmitted && !options.arrival.autoRepliesStopNoReply ? { keeps_no_reply: true } : {}),
    } : {}),
  };
}

async function findSubjectCandidate(
  tx: Transaction<Database>, account: AccountRow, counterpart: string, subject: string | null, notBefore: string,
): Promise<SubjectCandidate | null> {
  const row = await tx.selectFrom('conversations').select('id')
    .where('org_id', '=', account.org_id).where('merged_into', 'is', null).where('identity_id', '=', account.identity_id)
    .where('counterpart', '=', counterpart).where('subject_key', '=', subjectKey(subject))
    .where('last_event_at', '>=', notBefore)
    .orderBy('last_event_at', 'desc').limit(1).executeTakeFirst();
  return row ? { conversationId: row.id } : null;
}

/**
 * Whether the organization holds an inbound message with this Message-ID only as a truncated copy.
 * Asked of every resent copy, so the store itself rules out the usual case (a copy whose event
 * does not even mention the truncation problem) without sending its event, which may hold
 * megabytes of text, to this thread to be parsed.
 */
export async function heldTruncated(db: Db, orgId: string, messageId: string): Promise<string | null> {
  const copies = db.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .where('messages.org_id', '=', orgId).where('messages.provider_message_id', '=', messageId)
    .where('messages.direction', '=', 'inbound');
  const untruncated = await copies.select('messages.id').where('events.data', 'not like', `%${TRUNCATED_PROBLEM}%`).limit(1).executeTakeFirst();
  if (untruncated) return null;
  const rows = await copies.select(['messages.id', 'events.data']).execute();
  const problems = rows.map((r) => ({ id: r.id, problems: (JSON.parse(r.data) as MessageData).parse_problems }));
  if (problems.length === 0 || problems.some((c) => !c.problems.includes(TRUNCATED_PROBLEM))) return null;
  return problems[0]!.id;
}
