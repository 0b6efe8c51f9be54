/**
 * Batched email ingest: many parsed messages for one mailbox stored in the caller's
 * transaction with a few multi-row statements per table, instead of some twenty
 * statements per message: the write path of imports and of mail that arrives together
 * (services/receive-email.ts; docs/benchmarks.md).
 *
 * Threading reads the Message-ID index for a window of messages at once, then an
 * in-memory overlay of what the batch itself placed, so a reply later in the same batch
 * finds its parent as it would one message at a time. Every message still gets its own
 * `message` event, `seq` (in input order) and summary fold; each conversation's summary
 * is written once, folded over its messages of the batch in order, and a conversation the
 * batch starts is inserted with it.
 *
 * What the overlay does not decide alone goes through {@link ingestEmail} itself, after
 * everything pending is written: a copy of a message already stored (dedup, truncated
 * copies), a message that links two conversations (a merge, store/merge.ts), one that may
 * join by subject (SPEC 4 rule 3).
 */
import type { Insertable, Transaction } from 'kysely';
import type { EmailAddress, EventBody, MessageData } from '../domain/events.js';
import { applyEvent, type ApplyContext, type ConversationSummary, type SlaPolicy } from '../domain/projection.js';
import { indexEntries, lookupIds, placeMessage, wantsSubjectFallback, type IndexedId, type ThreadingInput } from '../domain/threading.js';
import type { ParsedEmail } from '../email/parse.js';
import { newId } from '../ids.js';
import { chunks } from '../store/chunks.js';
import { domainOf } from '../store/contacts.js';
import { findConversation, newConversationRow } from '../store/conversations.js';
import { lookupMessageIds } from '../store/email-index.js';
import type { AccountRow } from '../store/identities.js';
import type { Database, MessagesTable, RawMessagesTable } from '../store/schema.js';
import { getSlaPolicy } from '../store/sla.js';
import { summaryColumns, summaryOf, writeTimelines, type ConversationRow, type SummaryWrite } from '../store/timeline.js';
import { systemClock } from '../clock.js';
import { blockedAmong } from './contact-rules.js';
import {
  attachmentRows, externalAddresses, ingestEmail, MAX_CONTACTS_PER_MESSAGE, MAX_PARTICIPANTS_PER_MESSAGE, messageData, threadingInput,
  type ArrivalFacts, type IngestOptions, type IngestResult, type ThreadingPolicy,
} from './ingest-email.js';

/** One message of a batch: its bytes, its parse and, when the parser computed it, its preview. */
export interface BatchMessage {
  readonly raw: Buffer;
  readonly parsed: ParsedEmail;
  readonly snippet?: string;
  /** Its search words (domain/search-text.ts `messageTokens`), when the parser made them. */
  readonly tokens?: readonly string[];
  /** Set for mail that arrived (SMTP, HTTP): what the receiving side learned ({@link IngestOptions} `arrival`). */
  readonly arrival?: ArrivalFacts;
}

/** The options of a batch: those of {@link ingestEmail} that all its messages share. */
export type BatchOptions = Pick<IngestOptions, 'at' | 'clock'>;

/** Messages whose index entries, conversations, contacts and rules are read at once. */
const READ_AHEAD = 64;

/**
 * Stores `messages` for `account` inside `tx`, in order, as {@link ingestEmail} would one
 * at a time (same conversations, events, summaries, index rows and contacts), and returns
 * each message's result in input order.
 *
 * @throws whatever a statement throws (the caller's transaction then rolls back whole).
 */
export async function ingestEmailBatch(
  tx: Transaction<Database>, policy: ThreadingPolicy, account: AccountRow, messages: readonly BatchMessage[], options: BatchOptions,
): Promise<IngestResult[]> {
  const inputs = messages.map((m) => threadingInput(m.raw, m.parsed));
  const out: IngestResult[] = [];
  let pending = new PendingBatch(tx, policy, account, options);
  for (let i = 0; i < messages.length; i++) {
    await pending.readAhead(messages, inputs, i);
    if (pending.place(messages[i]!, inputs[i]!)) continue;
    out.push(...await pending.flush());
    const { raw, parsed, snippet, arrival } = messages[i]!;
    const result = await ingestEmail(tx, policy, account, raw, parsed, { ...options, snippet, arrival });
    out.push(result);
    // The general path may have merged conversations, re-filed the index and made
    // contacts: what it may have touched is read again, the rest is kept.
    pending = pending.after(inputs[i]!, result.conversationId);
  }
  out.push(...await pending.flush());
  return out;
}

/** A conversation the batch writes to: its row as read (or new), and its summary folded so far. */
interface Conversation {
  row: ConversationRow;
  readonly created: boolean;
  readonly before: ConversationSummary;
  summary: ConversationSummary;
  readonly participants: Set<string>;
  readonly events: PendingEvent[];
}

interface PendingEvent {
  readonly id: string;
  readonly conversation: Conversation;
  readonly body: EventBody & { readonly at: string };
  /** A message's search words, when its parser made them. */
  readonly tokens: readonly string[] | undefined;
  seq: number;
}

/** A placed message's result, complete once its event has its `seq`. */
interface Placed {
  readonly conversation: Conversation;
  readonly messageId: string;
  readonly event: PendingEvent;
  readonly newConversation: boolean;
}

/**
 * What a run of placed messages will write, and the reads it decides from. Entries
 * placed by the batch win over those read from the store, which cannot have changed
 * (the caller's transaction holds the organization's lock).
 */
class PendingBatch {
  readonly #tx: Transaction<Database>;
  readonly #policy: ThreadingPolicy;
  readonly #account: AccountRow;
  readonly #options: BatchOptions;
  readonly #now: string;
  /** Messages up to this index have been read ahead. */
  #readTo = -1;
  /** The Message-ID index as read, then as the batch changes it. */
  readonly #ids = new Map<string, IndexedId>();
  /** Index entries to write. */
  readonly #idWrites = new Map<string, IndexedId>();
  /** Conversations by every id they are known by (merged ids lead to the survivor); null: none. */
  readonly #conversations = new Map<string, Conversation | null>();
  readonly #contacts = new Map<string, string>();
  readonly #newContacts: { readonly id: string; readonly address: EmailAddress }[] = [];
  /** Addresses asked of the contact rules, and those they block. */
  readonly #ruled = new Set<string>();
  readonly #blocked = new Set<string>();
  /** The organization's SLA policy, read once for mail that arrives now (undefined: not read). */
  #sla: SlaPolicy | null | undefined;
  readonly #events: PendingEvent[] = [];
  readonly #placed: Placed[] = [];
  readonly #messages: Insertable<MessagesTable>[] = [];
  readonly #raw: Insertable<RawMessagesTable>[] = [];
  readonly #media: ReturnType<typeof attachmentRows> = [];

  constructor(tx: Transaction<Database>, policy: ThreadingPolicy, account: AccountRow, options: BatchOptions) {
    this.#tx = tx;
    this.#policy = policy;
    this.#account = account;
    this.#options = options;
    this.#now = new Date((options.clock ?? systemClock).now()).toISOString();
  }

  /** Reads, for the next {@link READ_AHEAD} messages from `i`, what placing them needs. */
  async readAhead(messages: readonly BatchMessage[], inputs: readonly ThreadingInput[], i: number): Promise<void> {
    if (i <= this.#readTo) return;
    const end = Math.min(messages.length, i + READ_AHEAD);
    this.#readTo = end - 1;
    const tx = this.#tx;
    const { org_id: orgId, identity_id: identityId } = this.#account;
    const window = messages.slice(i, end);

    const ids = [...new Set(inputs.slice(i, end).flatMap(lookupIds))].filter((id) => !this.#ids.has(id));
    for (const slice of chunks(ids)) {
      for (const [id, entry] of await lookupMessageIds(tx, orgId, identityId, slice)) this.#ids.set(id, entry);
    }
    const conversationIds = [...new Set([...this.#ids.values()].map((e) => e.conversationId))].filter((id) => !this.#conversations.has(id));
    for (const slice of chunks(conversationIds)) {
      const rows = await tx.selectFrom('conversations').selectAll().where('org_id', '=', orgId).where('id', 'in', slice).execute();
      for (const row of rows) if (row.merged_into === null) this.#conversations.set(row.id, this.#known(row));
      for (const id of slice) {
        if (this.#conversations.has(id)) continue;
        // Merged (or missing): the conversation it is part of now, if any.
        const live = await findConversation(tx, orgId, id);
        let c = live ? this.#conversations.get(live.id) : null;
        if (live && !c) this.#conversations.set(live.id, c = this.#known(live));
        this.#conversations.set(id, c ?? null);
      }
    }

    const addresses = [...new Set(window.flatMap((m) => externalAddresses(m.parsed, this.#account.address)
      .slice(0, MAX_CONTACTS_PER_MESSAGE).map((a) => a.address)))].filter((a) => !this.#contacts.has(a));
    for (const slice of chunks(addresses)) {
      const rows = await tx.selectFrom('contact_addresses').select(['address', 'contact_id'])
        .where('org_id', '=', orgId).where('channel', '=', 'email').where('address', 'in', slice).execute();
      for (const r of rows) this.#contacts.set(r.address, r.contact_id);
    }

    // Blocking looks at the sender and the conversation's counterpart.
    const ruled = new Set<string>();
    for (const m of window) {
      if (m.parsed.from) ruled.add(m.parsed.from.address);
      if (m.parsed.to[0]) ruled.add(m.parsed.to[0].address);
    }
    for (const c of this.#conversations.values()) if (c?.row.counterpart) ruled.add(c.row.counterpart);
    const ask = [...ruled].filter((a) => !this.#ruled.has(a));
    for (const slice of chunks(ask)) {
      for (const a of (await blockedAmong(tx, orgId, identityId, slice)).keys()) this.#blocked.add(a);
      for (const a of slice) this.#ruled.add(a);
    }
    if (this.#options.at === 'received' && this.#sla === undefined) this.#sla = await getSlaPolicy(tx, orgId);
  }

  /**
   * The batch that goes on after a message went through {@link ingestEmail} (everything
   * placed before it flushed): it keeps what that cannot have changed (the contact rules,
   * the SLA policy, the conversations and index entries it did not touch, each
   * conversation as now written) and reads the rest again. Touched: the conversation the
   * message went to, and those its ids were known in (which a merge joins or re-files).
   */
  after(input: ThreadingInput, conversationId: string): PendingBatch {
    const next = new PendingBatch(this.#tx, this.#policy, this.#account, this.#options);
    const touched = new Set<Conversation>();
    for (const id of [conversationId, ...lookupIds(input).flatMap((k) => this.#ids.get(k)?.conversationId ?? [])]) {
      const c = this.#conversations.get(id);
      if (c) touched.add(c);
    }
    const kept = new Map<Conversation, Conversation>();
    for (const [id, c] of this.#conversations) {
      if (c === null) next.#conversations.set(id, null);
      else if (!touched.has(c)) {
        let now = kept.get(c);
        if (!now) kept.set(c, now = next.#known({ ...c.row, ...summaryColumns(c.summary) } as ConversationRow));
        next.#conversations.set(id, now);
      }
    }
    // The message's own ids are read again even where their conversation is gone (the general path re-filed them).
    const forgotten = new Set(lookupIds(input));
    for (const [id, entry] of this.#ids) {
      const c = this.#conversations.get(entry.conversationId);
      if (!forgotten.has(id) && !(c && touched.has(c))) next.#ids.set(id, entry);
    }
    // A contact, once made, keeps its id; addresses not known yet are looked up again.
    for (const [address, contactId] of this.#contacts) next.#contacts.set(address, contactId);
    for (const a of this.#ruled) next.#ruled.add(a);
    for (const a of this.#blocked) next.#blocked.add(a);
    next.#sla = this.#sla;
    return next;
  }

  #known(row: ConversationRow): Conversation {
    const summary = summaryOf(row);
    return { row, created: false, before: summary, summary, participants: new Set(), events: [] };
  }

  /**
   * Places one message in memory, as {@link ingestEmail} would store it.
   *
   * @returns false when the message needs the general path (see the module comment); nothing is then pending for it.
   */
  place(message: BatchMessage, input: ThreadingInput): boolean {
    const { parsed, raw } = message;
    const account = this.#account;
    const known = new Map<string, IndexedId>();
    for (const id of lookupIds(input)) {
      const entry = this.#ids.get(id);
      if (entry) known.set(id, entry);
    }
    // As in ingestEmail: mail that arrived is inbound whatever its From says.
    const outbound = !message.arrival && parsed.from?.address === account.address;
    const counterpart = outbound ? parsed.to[0] ?? null : parsed.from;
    if (this.#policy.threadBySubject && counterpart && wantsSubjectFallback(input)) return false;
    const placement = placeMessage(input, known, { subjectFallback: false });
    if (placement.kind === 'duplicate') return false;
    let conversation: Conversation | undefined;
    if (placement.kind === 'join') {
      const live = new Set<Conversation>();
      for (const id of placement.linked) {
        const c = this.#conversations.get(id);
        if (c) live.add(c);
      }
      if (live.size > 1) return false;
      conversation = live.values().next().value;
    }
    const blockedBy = [parsed.from?.address ?? null, conversation ? conversation.row.counterpart : counterpart?.address ?? null]
      .filter((a): a is string => !!a);
    if (!outbound && blockedBy.some((a) => !this.#ruled.has(a))) return false;

    const nowIso = this.#now;
    const at = this.#options.at === 'date' && parsed.date && parsed.date < nowIso ? parsed.date : nowIso;
    const external = externalAddresses(parsed, account.address);
    for (const address of external.slice(0, MAX_CONTACTS_PER_MESSAGE)) {
      if (this.#contacts.has(address.address)) continue;
      const id = newId('ct');
      this.#contacts.set(address.address, id);
      this.#newContacts.push({ id, address });
    }
    const newConversation = !conversation;
    if (!conversation) {
      const row = newConversationRow({
        orgId: account.org_id, identityId: account.identity_id, accountId: account.id, channel: 'email', subject: parsed.subject,
        counterpart: counterpart?.address ?? null,
        contactId: counterpart ? this.#contacts.get(counterpart.address) ?? null : null,
        at,
      });
      const summary = summaryOf(row);
      conversation = { row, created: true, before: summary, summary, participants: new Set(), events: [] };
      this.#conversations.set(row.id, conversation);
    }
    if (!outbound) {
      const blocked = [parsed.from?.address ?? null, conversation.row.counterpart].some((a) => a !== null && this.#blocked.has(a)) ? 1 : 0;
      conversation.row = { ...conversation.row, is_blocked: blocked };
    }

    const messageId = newId('msg');
    const media = attachmentRows(account.org_id, messageId, parsed, nowIso);
    this.#media.push(...media);
    this.#raw.push({ message_id: messageId, org_id: account.org_id, raw: message.arrival?.stored ?? raw });
    const data: MessageData = messageData(account, parsed, messageId, outbound, media, { at: this.#options.at, snippet: message.snippet, arrival: message.arrival }, null);
    const reopen = !outbound && this.#options.at === 'received' && conversation.summary.archived;
    const ctx: ApplyContext = { sla: !outbound && this.#options.at === 'received' ? this.#sla ?? null : null, now: nowIso };
    const bodies: (EventBody & { readonly at: string })[] = [
      { type: 'message', at, data },
      ...(reopen ? [{ type: 'unarchived' as const, at, data: {} }] : []),
    ];
    for (const body of bodies) {
      const event: PendingEvent = { id: newId('evt'), conversation, body, tokens: body.type === 'message' ? message.tokens : undefined, seq: 0 };
      this.#events.push(event);
      conversation.events.push(event);
      conversation.summary = applyEvent(conversation.summary, body, ctx);
    }
    const event = conversation.events.at(-bodies.length)!;
    this.#messages.push({
      id: messageId, org_id: account.org_id, conversation_id: conversation.row.id, event_id: event.id,
      direction: data.direction, status: data.status, error: null,
      provider_message_id: parsed.messageId, created_at: nowIso, updated_at: nowIso,
    });
    // As the index's upsert would: a new id is added, a ghost becomes stored in place, a stored id never moves.
    for (const entry of indexEntries(input, known, conversation.row.id)) {
      const had = this.#ids.get(entry.id);
      if (had && (had.stored || !entry.stored)) continue;
      const next: IndexedId = had ? { ...had, stored: true } : { conversationId: entry.conversationId, stored: entry.stored };
      this.#ids.set(entry.id, next);
      this.#idWrites.set(entry.id, next);
    }
    for (const a of external.slice(0, MAX_PARTICIPANTS_PER_MESSAGE)) conversation.participants.add(a.address);
    this.#placed.push({ conversation, messageId, event, newConversation });
    return true;
  }

  /** Writes everything placed, in the caller's transaction, and returns the placed messages' results in order. */
  async flush(): Promise<IngestResult[]> {
    if (this.#events.length === 0) return [];
    const tx = this.#tx;
    const { org_id: orgId, identity_id: identityId } = this.#account;
    const now = this.#now;
    for (const slice of chunks(this.#newContacts)) {
      await tx.insertInto('contacts')
        .values(slice.map(({ id, address }) => ({ id, org_id: orgId, display_name: address.name, created_at: now, updated_at: now }))).execute();
      await tx.insertInto('contact_addresses')
        .values(slice.map(({ id, address }) => ({ org_id: orgId, channel: 'email', address: address.address, contact_id: id }))).execute();
    }
    const touched = [...new Set(this.#events.map((e) => e.conversation))];
    const writes = new Map(touched.map((c): [Conversation, SummaryWrite] => [c, {
      row: c.row, insert: c.created, before: c.before, after: c.summary, extra: { is_blocked: c.row.is_blocked },
    }]));
    const seqs = await writeTimelines(tx, orgId, [...writes.values()], this.#events.map((e) => ({
      id: e.id, conversation: writes.get(e.conversation)!, body: e.body, tokens: e.tokens,
    })));
    this.#events.forEach((e, k) => { e.seq = seqs[k]!; });
    for (const slice of chunks(this.#media)) await tx.insertInto('media').values(slice).execute();
    for (const slice of chunks(this.#raw)) await tx.insertInto('raw_messages').values(slice).execute();
    for (const slice of chunks(this.#messages)) await tx.insertInto('messages').values(slice).execute();
    for (const slice of chunks([...this.#idWrites])) {
      await tx.insertInto('email_message_ids')
        .values(slice.map(([id, e]) => ({ org_id: orgId, identity_id: identityId, message_id: id, conversation_id: e.conversationId, stored: e.stored ? 1 : 0 })))
        .onConflict((oc) => oc.columns(['org_id', 'identity_id', 'message_id']).doUpdateSet({ stored: 1 }).where('excluded.stored', '=', 1))
        .execute();
    }
    const participants = touched.flatMap((c) => [...c.participants].map((address) => ({
      conversation_id: c.row.id, org_id: orgId, address, domain: domainOf(address),
    })));
    for (const slice of chunks(participants)) {
      await tx.insertInto('conversation_participants').values(slice)
        .onConflict((oc) => oc.columns(['conversation_id', 'address']).doNothing()).execute();
    }
    return this.#placed.map((p) => ({
      status: 'stored', conversationId: p.conversation.row.id, messageId: p.messageId, seq: p.event.seq, newConversation: p.newConversation,
    }));
  }
}
