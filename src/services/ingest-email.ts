/**
 * Email in: one parsed message for one mailbox becomes a `message` event in the right
 * conversation (SPEC section 4), with its raw bytes, attachments, threading index,
 * participants and contacts, all in the caller's transaction.
 */
import crypto from 'node:crypto';
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import { MESSAGE_STATUS_RANK, type EmailAddress, type MediaRef, type MessageAuthentication, type MessageData, type MessageStatus } from '../domain/events.js';
import { snippetOf } from '../domain/snippet.js';
import {
  indexEntries, lookupIds, placeMessage, subjectKey, wantsSubjectFallback, type SubjectCandidate, type ThreadingInput,
} from '../domain/threading.js';
import { authenticateMessage, type Arrival, type DnsResolver } from '../email/authentication.js';
import { failedRecipient, readDeliveryReport, type DeliveryReport } from '../email/dsn.js';
import { parseEmail, parseHeadersOnly, TRUNCATED_PROBLEM, type ParsedEmail } from '../email/parse.js';
import { isTruncated, peekHeaders, type PeekedHeaders } from '../email/peek.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import { addParticipants, ensureContacts } from '../store/contacts.js';
import { groupCommitter } from '../store/group-commit.js';
import { findConversation, newConversationRow } from '../store/conversations.js';
import { lookupMessageIds, recordMessageIds } from '../store/email-index.js';
import { mergeConversations } from '../store/merge.js';
import type { AccountRow, MailboxRoute } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import { getSlaPolicy } from '../store/sla.js';
import type { Db, Store } from '../store/store.js';
import { appendEvents, type ConversationRow } from '../store/timeline.js';
import { blockedAmong } from './contact-rules.js';
import { mailboxConfig } from './identities.js';
import type { Metrics } from '../observability/metrics.js';

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
    { type: 'message', at, data },
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

/** One recipient's outcome of {@link receiveEmail}. */
export type DeliveryOutcome = (
  | IngestResult
  | { readonly status: 'rejected'; readonly reason: string }
  /** A delivery report about one of our messages: recorded as its `message_status: bounced`, not stored as mail. */
  | { readonly status: 'bounce'; readonly conversationId: string; readonly messageId: string }
) & { readonly accountId: string };

export interface ReceiveOptions {
  /** The DNS resolver of SPF, DKIM and DMARC lookups (email/authentication.ts). */
  readonly resolver: DnsResolver;
  /** This server's name in `Authentication-Results`. */
  readonly serverName: string;
  readonly clock?: Clock;
  /**
   * Parses the message, off the event loop with a time budget on a server
   * (email/parse-pool.ts `parseWithin`); in process by default.
   */
  readonly parse?: MessageParser;
  /** Counts each recipient's outcome, and failures (`switchboard_ingest_messages_total`); nothing when unset. */
  readonly metrics?: Metrics;
}

/** A full parse of a raw message, with its preview when the parser computed it. */
export type MessageParser = (raw: Buffer) => Promise<{ readonly parsed: ParsedEmail; readonly snippet?: string }>;

const parseHere: MessageParser = async (raw) => ({ parsed: await parseEmail(raw) });

/**
 * Receives one raw message for one or more mailboxes (SMTP, HTTP upload): authenticates
 * it (SPF, DKIM, DMARC, ARC), parses it once and stores it for each mailbox in a single
 * transaction, so the caller may acknowledge (SMTP 250, HTTP 2xx) as soon as this
 * resolves. A mailbox whose `inbound_policy` is `reject` refuses (outcome `rejected`) a
 * message that claims one of its organization's addresses without DMARC alignment, or
 * fails DMARC for a domain whose published policy is reject.
 *
 * A copy every mailbox holds already is told from its headers alone, before any parse.
 * A message that can be received is stored: when storing its parse fails, it is stored
 * again as its headers and text with the failure named (its raw bytes are kept whole);
 * only when that fails too does this throw (the store is down: the caller answers "try
 * again later").
 */
export async function receiveEmail(
  store: Store, policy: ThreadingPolicy, routes: readonly MailboxRoute[], raw: Buffer, arrival: Arrival, options: ReceiveOptions,
): Promise<DeliveryOutcome[]> {
  const { metrics } = options;
  if (!metrics) return receive(store, policy, routes, raw, arrival, options);
  try {
    const outcomes = await receive(store, policy, routes, raw, arrival, options);
    for (const o of outcomes) metrics.ingestMessages.inc({ channel: 'email', outcome: o.status });
    return outcomes;
  } catch (err) {
    metrics.ingestMessages.inc({ channel: 'email', outcome: 'error' });
    throw err;
  }
}

/** {@link receiveEmail}, uncounted. */
async function receive(
  store: Store, policy: ThreadingPolicy, routes: readonly MailboxRoute[], raw: Buffer, arrival: Arrival, options: ReceiveOptions,
): Promise<DeliveryOutcome[]> {
  if (routes.length === 0) return [];
  const peek = peekHeaders(raw);
  const held = await heldCopies(store, routes, raw, peek);
  if (held) return routes.map((r) => ({ status: 'duplicate' as const, conversationId: held.get(r.account.id)!, accountId: r.account.id }));
  const [{ parsed, snippet }, checked] = await Promise.all([
    (options.parse ?? parseHere)(raw),
    // A header block too large to read cheaply is not authenticated (mailauth parses it on this thread).
    peek.headerBytes === null ? unauthenticated(options.serverName) : authenticateMessage(raw, arrival, options.resolver, options.serverName),
  ]);
  const stored = Buffer.concat([Buffer.from(checked.headers, 'utf8'), raw]);
  const store1 = (p: ParsedEmail, s: string | undefined) => storeArrival(store, policy, routes, raw, p, s, checked, stored, options);
  try {
    return await store1(parsed, snippet);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // Something in the parsed form cannot be stored; the message still can be.
    return store1(parseHeadersOnly(raw, `stored as headers and text: storing its parsed form failed (${(err as Error).message.slice(0, 200)})`), undefined);
  }
}

/** Results of a message that was not authenticated (its header block is too large). */
async function unauthenticated(mta: string): Promise<{ authentication: MessageAuthentication; headers: string }> {
  const none = { result: 'none', domain: null };
  return {
    authentication: { spf: none, dkim: [{ ...none, selector: null }], dmarc: { ...none, policy: null }, arc: { result: 'none' }, aligned: false },
    headers: `Authentication-Results: ${mta}; none (header block too large to authenticate)\r\n`,
  };
}

/**
 * When every mailbox of `routes` holds this message already and its headers link nothing
 * new, the conversation each holds it in (per account id); else null. Reads only the
 * header block. A complete copy of a message held as a truncated copy is not held (it
 * replaces it).
 */
async function heldCopies(store: Store, routes: readonly MailboxRoute[], raw: Buffer, peek: PeekedHeaders): Promise<Map<string, string> | null> {
  const input: ThreadingInput = {
    messageId: peek.messageId ?? `sha256:${crypto.createHash('sha256').update(raw).digest('hex')}`,
    inReplyTo: peek.inReplyTo, references: peek.references, subject: null,
  };
  const out = new Map<string, string>();
  for (const { account } of routes) {
    const known = await lookupMessageIds(store.db, account.org_id, account.identity_id, lookupIds(input));
    const placement = placeMessage(input, known, { subjectFallback: false });
    if (placement.kind !== 'duplicate' || placement.linked.length > 1) return null;
    if (indexEntries(input, known, placement.conversationId).some((r) => !r.stored)) return null;
    out.set(account.id, placement.conversationId);
  }
  if (peek.messageId && !isTruncated(raw, peek.contentType)) {
    for (const { account } of routes) if (await heldTruncated(store.db, account.org_id, peek.messageId)) return null;
  }
  return out;
}

/**
 * Whether the organization holds an inbound message with this Message-ID only as a truncated copy.
 * Asked of every resent copy, so the store itself rules out the usual case (a copy whose event
 * does not even mention the truncation problem) without sending its event, which may hold
 * megabytes of text, to this thread to be parsed.
 */
async function heldTruncated(db: Db, orgId: string, messageId: string): Promise<string | null> {
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

/** The transaction of {@link receiveEmail}: one parse of the message stored for each route. */
async function storeArrival(
  store: Store, policy: ThreadingPolicy, routes: readonly MailboxRoute[], raw: Buffer, parsed: ParsedEmail, snippet: string | undefined,
  checked: { authentication: MessageAuthentication }, stored: Buffer, options: ReceiveOptions,
): Promise<DeliveryOutcome[]> {
  const claimed = parsed.from?.address ?? null;
  const report = readDeliveryReport(parsed);
  // Mail for mailboxes of several organizations commits once, holding each one's lock;
  // mail arriving at the same time shares the transaction (store/group-commit.ts).
  return groupCommitter(store).run(routes.map((r) => r.account.org_id), async (tx) => {
    const out: DeliveryOutcome[] = [];
    for (const { account, tag } of routes) {
      const settings = mailboxConfig(account);
      const forged = !checked.authentication.aligned && claimed !== null && await isOwnAddress(tx, account.org_id, claimed);
      const dmarc = checked.authentication.dmarc;
      const refusedByDmarc = dmarc.result === 'fail' && dmarc.policy === 'reject';
      if ((forged || refusedByDmarc) && settings.inbound_policy === 'reject') {
        out.push({
          status: 'rejected', accountId: account.id,
          reason: forged ? `${claimed} is an address of this organization and the message fails DMARC alignment` : `it fails DMARC for ${dmarc.domain}, whose policy is reject`,
        });
        continue;
      }
      const bounce = await applyBounce(tx, account, tag, report, parsed, stored, options.clock ?? systemClock);
      if (bounce) {
        out.push({ status: 'bounce', ...bounce, accountId: account.id });
        continue;
      }
      const facts: ArrivalFacts = {
        authentication: checked.authentication, spoofed: forged && settings.inbound_policy === 'flag', tag, stored,
        autoRepliesStopNoReply: settings.auto_replies_stop_no_reply,
      };
      out.push({ ...(await ingestEmail(tx, policy, account, raw, parsed, { at: 'received', clock: options.clock, arrival: facts, snippet })), accountId: account.id });
    }
    return out;
  });
}

/** Whether `address` is one of the organization's mailboxes. */
async function isOwnAddress(tx: Transaction<Database>, orgId: string, address: string): Promise<boolean> {
  const row = await tx.selectFrom('channel_accounts').select('id')
    .where('channel', '=', 'email').where('address', '=', address).where('org_id', '=', orgId).executeTakeFirst();
  return row !== undefined;
}

/** The plus-address tag of a VERP bounce address (`local+bounce-<msg id>@domain`): the outbound message it returns. */
const VERP_TAG = /^bounce-(msg_[0-9a-z]+)$/;

/**
 * Records a bounce: a delivery report naming a failed recipient of one of this
 * organization's outbound messages (found by the returned Message-ID, or by the VERP
 * address it was sent to) becomes that message's `message_status: bounced`, with the
 * report kept as a media item of the message. Status only moves forward (a late report
 * about a message already bounced or read adds nothing).
 *
 * @returns the message it bounced, or null when the mail is not a bounce of ours (it is then stored as mail).
 */
async function applyBounce(
  tx: Transaction<Database>, account: AccountRow, tag: string | null, report: DeliveryReport | null, parsed: ParsedEmail, stored: Buffer, clock: Clock,
): Promise<{ conversationId: string; messageId: string } | null> {
  const verp = tag ? VERP_TAG.exec(tag)?.[1] ?? null : null;
  if (!report && !verp) return null;
  const failed = report ? failedRecipient(report) : null;
  if (report && !failed) return null;
  // The returned message's Message-ID; a report that returned nothing may still name it
  // in its own In-Reply-To or References (Exim does).
  const named = [report?.originalMessageId, ...parsed.inReplyTo, ...parsed.references].filter((id): id is string => !!id);
  let q = tx.selectFrom('messages').select(['id', 'conversation_id', 'status'])
    .where('org_id', '=', account.org_id).where('direction', '=', 'outbound');
  if (verp) q = q.where('id', '=', verp);
  else if (named.length) q = q.where('provider_message_id', 'in', named);
  else return null;
  const message = await q.limit(1).executeTakeFirst();
  if (!message) return null;
  const conversation = await findConversation(tx, account.org_id, message.conversation_id);
  if (!conversation) return null;
  if (MESSAGE_STATUS_RANK.bounced <= MESSAGE_STATUS_RANK[message.status as MessageStatus]) {
    return { conversationId: conversation.id, messageId: message.id };
  }
  const now = isoNow(clock);
  const mediaId = newId('med');
  await tx.insertInto('media').values({
    id: mediaId, org_id: account.org_id, message_id: message.id, filename: 'delivery-report.eml', content_type: 'message/rfc822',
    size_bytes: stored.length, content_id: null, disposition: 'attachment', content: stored, storage_key: null, identity_id: null, created_at: now,
  }).execute();
  const bounce = { recipient: failed?.recipient ?? null, status: failed?.status ?? null, diagnostic: failed?.diagnostic ?? null, media_id: mediaId };
  const error = `${bounce.recipient ?? 'a recipient'}: ${bounce.diagnostic ?? bounce.status ?? 'returned as undeliverable'}`;
  await appendEvents(tx, conversation, [{ type: 'message_status', at: now, data: { message_id: message.id, status: 'bounced', error, report: bounce } }]);
  await tx.updateTable('messages').set({ status: 'bounced', error, updated_at: now }).where('id', '=', message.id).execute();
  return { conversationId: conversation.id, messageId: message.id };
}
