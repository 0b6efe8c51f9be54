/**
 * Email that arrives (SMTP, `POST /v1/inbound/email`): authenticated (SPF, DKIM, DMARC,
 * ARC), parsed once, told apart as a copy already held, a bounce of our own mail, mail a
 * mailbox refuses, or mail to store (services/ingest-email.ts), and committed before the
 * caller acknowledges it. Plain mail for one mailbox is written together with what
 * arrives at the same time (store/group-commit.ts, services/ingest-email-batch.ts).
 */
import crypto from 'node:crypto';
import type { Transaction } from 'kysely';
import { isoNow, systemClock, type Clock } from '../clock.js';
import { MESSAGE_STATUS_RANK, type MessageAuthentication, type MessageStatus } from '../domain/events.js';
import { indexEntries, lookupIds, placeMessage, type ThreadingInput } from '../domain/threading.js';
import { authenticateMessage, type Arrival, type DnsResolver } from '../email/authentication.js';
import { failedRecipient, readDeliveryReport, type DeliveryReport } from '../email/dsn.js';
import { parseEmail, parseHeadersOnly, type ParsedEmail } from '../email/parse.js';
import { isTruncated, peekHeaders, type PeekedHeaders } from '../email/peek.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { Metrics } from '../observability/metrics.js';
import { chunks } from '../store/chunks.js';
import { findConversation } from '../store/conversations.js';
import { lookupMessageIds } from '../store/email-index.js';
import { groupCommitter, type BatchWriter } from '../store/group-commit.js';
import type { AccountRow, MailboxRoute } from '../store/identities.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { appendEvents } from '../store/timeline.js';
import { mailboxConfig } from './identities.js';
import { heldTruncated, ingestEmail, type ArrivalFacts, type IngestResult, type ThreadingPolicy } from './ingest-email.js';
import { ingestEmailBatch, type BatchMessage } from './ingest-email-batch.js';

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

/**
 * A full parse of a raw message, with its preview and its search words (domain/search-text.ts
 * `messageTokens` of `parsed`) when the parser computed them.
 */
export type MessageParser = (raw: Buffer) => Promise<ParseResult>;

/** What a {@link MessageParser} makes of a message. */
export interface ParseResult {
  readonly parsed: ParsedEmail;
  readonly snippet?: string;
  readonly tokens?: readonly string[];
}

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
  const [parse, checked] = await Promise.all([
    (options.parse ?? parseHere)(raw),
    // A header block too large to read cheaply is not authenticated (mailauth parses it on this thread).
    peek.headerBytes === null ? unauthenticated(options.serverName) : authenticateMessage(raw, arrival, options.resolver, options.serverName),
  ]);
  const stored = Buffer.concat([Buffer.from(checked.headers, 'utf8'), raw]);
  const store1 = (p: ParseResult) => storeArrival(store, policy, routes, raw, p, checked, stored, options);
  try {
    return await store1(parse);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // Something in the parsed form cannot be stored; the message still can be.
    return store1({ parsed: parseHeadersOnly(raw, `stored as headers and text: storing its parsed form failed (${(err as Error).message.slice(0, 200)})`) });
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

/** The transaction of {@link receiveEmail}: one parse of the message stored for each route. */
async function storeArrival(
  store: Store, policy: ThreadingPolicy, routes: readonly MailboxRoute[], raw: Buffer, { parsed, snippet, tokens }: ParseResult,
  checked: { authentication: MessageAuthentication }, stored: Buffer, options: ReceiveOptions,
): Promise<DeliveryOutcome[]> {
  const claimed = parsed.from?.address ?? null;
  const report = readDeliveryReport(parsed);
  const clock = options.clock ?? systemClock;
  const [only] = routes;
  if (routes.length === 1 && only && !mayBeBounce(only.tag, report)) {
    // Plain mail for one mailbox, the usual case: written together with the mail that
    // arrives at the same time (store/group-commit.ts, services/ingest-email-batch.ts).
    const item: MailboxArrival = {
      policy, account: only.account, tag: only.tag, raw, parsed, snippet, tokens, authentication: checked.authentication, stored, clock,
    };
    return [await groupCommitter(store).write(only.account.org_id, arrivalWriter, item)];
  }
  // Mail for mailboxes of several organizations commits once, holding each one's lock;
  // mail arriving at the same time shares the transaction (store/group-commit.ts).
  return groupCommitter(store).run(routes.map((r) => r.account.org_id), async (tx) => {
    const out: DeliveryOutcome[] = [];
    for (const { account, tag } of routes) {
      const forged = !checked.authentication.aligned && claimed !== null && (await ownAddresses(tx, account.org_id, [claimed])).has(claimed);
      const refused = refusal(account, claimed, checked.authentication, forged);
      if (refused) {
        out.push(refused);
        continue;
      }
      const bounce = await applyBounce(tx, account, tag, report, parsed, stored, clock);
      if (bounce) {
        out.push({ status: 'bounce', ...bounce, accountId: account.id });
        continue;
      }
      const arrival = arrivalFacts(account, tag, checked.authentication, forged, stored);
      out.push({ ...(await ingestEmail(tx, policy, account, raw, parsed, { at: 'received', clock, arrival, snippet, tokens })), accountId: account.id });
    }
    return out;
  });
}

/** One message that arrived for one mailbox, as {@link arrivalWriter} stores it. */
interface MailboxArrival {
  readonly policy: ThreadingPolicy;
  readonly account: AccountRow;
  readonly tag: string | null;
  readonly raw: Buffer;
  readonly parsed: ParsedEmail;
  readonly snippet: string | undefined;
  readonly tokens: readonly string[] | undefined;
  readonly authentication: MessageAuthentication;
  readonly stored: Buffer;
  readonly clock: Clock;
}

/**
 * Stores plain mail that arrived together (none of it a bounce): the refused ones refused,
 * the rest of each mailbox in one {@link ingestEmailBatch}.
 */
const arrivalWriter: BatchWriter<MailboxArrival, DeliveryOutcome> = {
  async write(tx, items) {
    const out: DeliveryOutcome[] = new Array(items.length);
    const forged = await forgedArrivals(tx, items);
    const batches: { first: MailboxArrival; indexes: number[]; messages: BatchMessage[] }[] = [];
    items.forEach((item, i) => {
      const { account, parsed } = item;
      const refused = refusal(account, parsed.from?.address ?? null, item.authentication, forged.has(item));
      if (refused) {
        out[i] = refused;
        return;
      }
      const arrival = arrivalFacts(account, item.tag, item.authentication, forged.has(item), item.stored);
      let batch = batches.find((b) => b.first.account.id === account.id && b.first.policy === item.policy && b.first.clock === item.clock);
      if (!batch) batches.push(batch = { first: item, indexes: [], messages: [] });
      batch.indexes.push(i);
      batch.messages.push({ raw: item.raw, parsed, snippet: item.snippet, tokens: item.tokens, arrival });
    });
    for (const { first, indexes, messages } of batches) {
      const results = await ingestEmailBatch(tx, first.policy, first.account, messages, { at: 'received', clock: first.clock });
      results.forEach((result, k) => { out[indexes[k]!] = { ...result, accountId: first.account.id }; });
    }
    return out;
  },
};

/** The items that claim an address of their own organization while failing DMARC alignment. */
async function forgedArrivals(tx: Transaction<Database>, items: readonly MailboxArrival[]): Promise<Set<MailboxArrival>> {
  const suspects = items.filter((i) => !i.authentication.aligned && i.parsed.from);
  const out = new Set<MailboxArrival>();
  for (const orgId of new Set(suspects.map((i) => i.account.org_id))) {
    const ofOrg = suspects.filter((i) => i.account.org_id === orgId);
    const own = await ownAddresses(tx, orgId, [...new Set(ofOrg.map((i) => i.parsed.from!.address))]);
    for (const item of ofOrg) if (own.has(item.parsed.from!.address)) out.add(item);
  }
  return out;
}

/**
 * The outcome of a message the mailbox refuses (its `inbound_policy` is `reject`): one
 * that claims an address of its organization without DMARC alignment (`forged`), or that
 * fails DMARC for a domain whose policy is reject; null when it is accepted.
 */
function refusal(account: AccountRow, claimed: string | null, authentication: MessageAuthentication, forged: boolean): DeliveryOutcome | null {
  const { dmarc } = authentication;
  const refusedByDmarc = dmarc.result === 'fail' && dmarc.policy === 'reject';
  if (!(forged || refusedByDmarc) || mailboxConfig(account).inbound_policy !== 'reject') return null;
  return {
    status: 'rejected', accountId: account.id,
    reason: forged ? `${claimed} is an address of this organization and the message fails DMARC alignment` : `it fails DMARC for ${dmarc.domain}, whose policy is reject`,
  };
}

/** What the mailbox learned of an accepted message as it arrived. */
function arrivalFacts(account: AccountRow, tag: string | null, authentication: MessageAuthentication, forged: boolean, stored: Buffer): ArrivalFacts {
  const settings = mailboxConfig(account);
  return {
    authentication, spoofed: forged && settings.inbound_policy === 'flag', tag, stored,
    autoRepliesStopNoReply: settings.auto_replies_stop_no_reply,
  };
}

/** Which of `addresses` are mailboxes of the organization. */
async function ownAddresses(tx: Transaction<Database>, orgId: string, addresses: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const slice of chunks(addresses)) {
    const rows = await tx.selectFrom('channel_accounts').select('address')
      .where('channel', '=', 'email').where('org_id', '=', orgId).where('address', 'in', slice).execute();
    for (const r of rows) out.add(r.address);
  }
  return out;
}

/** Whether the mail may be a bounce of ours ({@link applyBounce}): a delivery report, or sent to a VERP address. */
function mayBeBounce(tag: string | null, report: DeliveryReport | null): boolean {
  return report !== null || (tag !== null && VERP_TAG.test(tag));
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
