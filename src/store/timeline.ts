/**
 * The event log and its projection: appending an event and updating the conversation
 * summary happen together, inside the caller's transaction.
 */
import type { Selectable, Transaction } from 'kysely';
import { applyEvent, type ApplyContext, type ConversationSummary } from '../domain/projection.js';
import type { EventBody, EventType, TimelineEvent } from '../domain/events.js';
import { newId } from '../ids.js';
import { chunks } from './chunks.js';
import { searchDocuments, searchIndexOf } from './search.js';
import { nextSeqs } from './sequences.js';
import type { ConversationsTable, Database, EventsTable } from './schema.js';
import type { Db } from './store.js';

/** The kinds of durable timer a conversation can have armed. */
export const TIMER_KINDS = ['no_reply', 'sla'] as const;
export type TimerKind = (typeof TIMER_KINDS)[number];

export type ConversationRow = Selectable<ConversationsTable>;

/** The summary columns of a conversation row, as the reducer sees them. */
export function summaryOf(row: ConversationRow): ConversationSummary {
  return {
    message_count: row.message_count,
    unread_count: row.unread_count,
    latest_message: row.latest_at
      ? {
          text: row.latest_text ?? '',
          at: row.latest_at,
          direction: row.latest_direction === 'outbound' ? 'outbound' : 'inbound',
          has_media: row.latest_has_media === 1,
        }
      : null,
    last_event_at: row.last_event_at,
    labels: JSON.parse(row.labels) as string[],
    archived: row.archived === 1,
    outbound_count: row.outbound_count,
    no_reply_at: row.no_reply_at,
    no_reply_since: row.no_reply_since,
    last_no_reply_at: row.last_no_reply_at,
    sla_due_at: row.sla_due_at,
    sla_target: row.sla_target as ConversationSummary['sla_target'],
    overdue: row.overdue === 1,
    starred: row.starred === 1,
    assigned_to: row.assigned_to,
    connection_status: row.connection_status as ConversationSummary['connection_status'],
    connection_id: row.connection_id,
  };
}

/** The summary as column values. */
export function summaryColumns(s: ConversationSummary): Partial<ConversationRow> {
  return {
    message_count: s.message_count,
    unread_count: s.unread_count,
    latest_text: s.latest_message?.text ?? null,
    latest_at: s.latest_message?.at ?? null,
    latest_direction: s.latest_message?.direction ?? null,
    latest_has_media: s.latest_message?.has_media ? 1 : 0,
    last_event_at: s.last_event_at,
    labels: JSON.stringify(s.labels),
    archived: s.archived ? 1 : 0,
    outbound_count: s.outbound_count,
    no_reply_at: s.no_reply_at,
    no_reply_since: s.no_reply_since,
    last_no_reply_at: s.last_no_reply_at,
    sla_due_at: s.sla_due_at,
    sla_target: s.sla_target,
    overdue: s.overdue ? 1 : 0,
    starred: s.starred ? 1 : 0,
    assigned_to: s.assigned_to,
    connection_status: s.connection_status,
    connection_id: s.connection_id,
  };
}

/**
 * Appends events to one conversation and writes the folded summary once. The caller's
 * transaction should hold the organization's write lock from before it read
 * `conversation` (`inOrgTransaction` in store/sequences.ts), so the summary it folds onto is current.
 *
 * Timers the new summary arms or disarms (no-reply, SLA) are written to `timers` in the
 * same transaction, so a committed deadline always has its durable timer row; so are
 * messages to the search index (store/search.ts), so a committed message is searchable.
 *
 * @param conversation the row as read inside `tx` (its summary is the starting point), or
 *   with `options.insert` a new row not written yet (store/conversations.ts `newConversationRow`).
 * @param events bodies with their `at` (RFC 3339) and, for a message whose parse worker made them, its search words (`tokens`).
 * @param ctx the SLA policy and clock time, for writes that may start an SLA clock.
 * @param options.insert insert the conversation with its folded summary (one write instead of an insert and an update).
 * @returns the committed-to-be events (with `seq`) and the new row.
 */
export async function appendEvents(
  tx: Transaction<Database>,
  conversation: ConversationRow,
  events: readonly (EventBody & { readonly at: string; readonly tokens?: readonly string[] })[],
  ctx: ApplyContext = {},
  options: { readonly insert?: boolean } = {},
): Promise<{ events: TimelineEvent[]; conversation: ConversationRow }> {
  if (events.length === 0 && !options.insert) return { events: [], conversation };
  const before = summaryOf(conversation);
  let after = before;
  for (const e of events) after = applyEvent(after, e, ctx);
  const write: SummaryWrite = { row: conversation, insert: options.insert ?? false, before, after };
  const pending = events.map(({ tokens, ...body }): EventWrite => ({ id: newId('evt'), conversation: write, body, tokens }));
  const seqs = await writeTimelines(tx, conversation.org_id, [write], pending);
  const out = pending.map((e, i) => ({ ...e.body, id: e.id, seq: seqs[i]!, conversation_id: conversation.id }) as TimelineEvent);
  return { events: out, conversation: { ...conversation, ...summaryColumns(after) } };
}

/** A conversation whose summary a {@link writeTimelines} call writes. */
export interface SummaryWrite {
  /** The row as read inside the transaction, or (with `insert`) a new row not written yet. */
  readonly row: ConversationRow;
  readonly insert: boolean;
  /** Its summary before the new events (the row's), and folded over them. */
  readonly before: ConversationSummary;
  readonly after: ConversationSummary;
  /** Other columns written with the summary (`is_blocked`). */
  readonly extra?: Partial<ConversationRow>;
}

/** A new event of a {@link writeTimelines} call. */
export interface EventWrite {
  readonly id: string;
  readonly conversation: SummaryWrite;
  readonly body: EventBody & { readonly at: string };
  /** Its search words, when a parse worker made them (store/search.ts `searchDocuments`). */
  readonly tokens?: readonly string[];
}

/**
 * Writes new events of one or more conversations of `orgId`, and each conversation's
 * folded summary once, in the caller's transaction (which should hold the organization's
 * write lock, as for {@link appendEvents}): numbers the events in the order given (one
 * `nextSeqs`), inserts each new conversation with its summary or updates the others',
 * writes the timers that changed, inserts the events with multi-row statements and
 * indexes the messages among them for search. The folding is the caller's
 * ({@link appendEvents}; services/ingest-email-batch.ts folds a batch of mail in memory).
 *
 * @returns each event's `seq`, in the order of `events`.
 */
export async function writeTimelines(
  tx: Transaction<Database>, orgId: string, conversations: readonly SummaryWrite[], events: readonly EventWrite[],
): Promise<number[]> {
  const first = events.length > 0 ? await nextSeqs(tx, orgId, events.length) : 0;
  const seqs = events.map((_, k) => first + k);
  for (const slice of chunks(conversations.filter((c) => c.insert))) {
    await tx.insertInto('conversations').values(slice.map((c) => ({ ...c.row, ...summaryColumns(c.after), ...c.extra }))).execute();
  }
  for (const c of conversations) {
    if (c.insert) await syncTimers(tx, c.row, c.before, c.after);
    else await writeSummary(tx, c.row, c.before, c.after, c.extra);
  }
  const now = new Date().toISOString();
  const numbered = events.map((e, k) => ({ ...e, seq: seqs[k]! }));
  for (const slice of chunks(numbered)) {
    await tx.insertInto('events').values(slice.map((e) => ({
      id: e.id, seq: e.seq, org_id: orgId, conversation_id: e.conversation.row.id, type: e.body.type, at: e.body.at,
      data: JSON.stringify(e.body.data), created_at: now,
    }))).execute();
  }
  const byConversation = new Map<SummaryWrite, typeof numbered>(conversations.map((c) => [c, []]));
  for (const e of numbered) byConversation.get(e.conversation)?.push(e);
  const entries = [...byConversation].map(([c, mine]) => ({
    conversation: c.row,
    docs: searchDocuments(mine.map((e) => ({ type: e.body.type, data: e.body.data, seq: e.seq, tokens: e.tokens }))),
  })).filter((e) => e.docs.length > 0);
  if (entries.length > 0) await searchIndexOf(tx).add(tx, entries);
  return seqs;
}

/**
 * Writes a conversation's new summary, and the `timers` rows whose due time changed
 * between `before` and `after`, in the caller's transaction.
 *
 * @returns the row with the new summary.
 */
export async function writeSummary(
  tx: Transaction<Database>, conversation: ConversationRow, before: ConversationSummary, after: ConversationSummary,
  extra: Partial<ConversationRow> = {},
): Promise<ConversationRow> {
  const columns = { ...summaryColumns(after), ...extra };
  await tx.updateTable('conversations').set(columns).where('id', '=', conversation.id).execute();
  await syncTimers(tx, conversation, before, after);
  return { ...conversation, ...columns };
}

/** The timers a summary arms: kind → due time (RFC 3339). */
function armedTimers(s: ConversationSummary): Record<TimerKind, string | null> {
  return { no_reply: s.no_reply_at, sla: s.sla_due_at !== null && !s.overdue ? s.sla_due_at : null };
}

/** Writes the `timers` rows whose due time changed between two summaries, in the caller's transaction. */
export async function syncTimers(tx: Transaction<Database>, conversation: ConversationRow, before: ConversationSummary, after: ConversationSummary): Promise<void> {
  const was = armedTimers(before);
  const now = armedTimers(after);
  for (const kind of TIMER_KINDS) {
    if (was[kind] === now[kind]) continue;
    const due = now[kind];
    if (due === null) {
      await tx.deleteFrom('timers').where('conversation_id', '=', conversation.id).where('kind', '=', kind).execute();
    } else {
      await tx.insertInto('timers')
        .values({ conversation_id: conversation.id, kind, org_id: conversation.org_id, due_at: due, claimed_until: null })
        .onConflict((oc) => oc.columns(['conversation_id', 'kind']).doUpdateSet({ due_at: due, claimed_until: null }))
        .execute();
    }
  }
}

/** A stored event row as the timeline type. */
export function eventFromRow(row: Selectable<EventsTable>): TimelineEvent {
  return {
    id: row.id,
    seq: Number(row.seq),
    conversation_id: row.conversation_id,
    at: row.at,
    type: row.type as EventType,
    data: JSON.parse(row.data),
  } as TimelineEvent;
}

export interface EventPageQuery {
  /** The conversation's timeline ids (store/conversations.ts `timelineIds`: its own and those merged into it). */
  readonly conversationIds: readonly string[];
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly types?: readonly EventType[];
  /** Keyset position: events strictly after this (`at`, `seq`) in the chosen order. */
  readonly after?: { readonly at: string; readonly seq: number };
}

/**
 * One page of a conversation's timeline, ordered by (`at`, `seq`): when things happened,
 * ties in commit order. Reads `limit + 1` rows so the caller knows whether more follow.
 */
export async function listEvents(db: Db, q: EventPageQuery): Promise<TimelineEvent[]> {
  let query = db.selectFrom('events').selectAll().where('conversation_id', 'in', [...q.conversationIds]);
  if (q.types?.length) query = query.where('type', 'in', [...q.types]);
  if (q.after) {
    const { at, seq } = q.after;
    query = q.order === 'asc'
      ? query.where((eb) => eb.or([eb('at', '>', at), eb.and([eb('at', '=', at), eb('seq', '>', seq)])]))
      : query.where((eb) => eb.or([eb('at', '<', at), eb.and([eb('at', '=', at), eb('seq', '<', seq)])]));
  }
  const rows = await query.orderBy('at', q.order).orderBy('seq', q.order).limit(q.limit + 1).execute();
  return rows.map(eventFromRow);
}

export interface OrgEventQuery {
  readonly orgId: string;
  /** Only events with a greater `seq`. */
  readonly afterSeq: number;
  readonly limit: number;
  readonly types?: readonly EventType[];
  /** Only this conversation's events, and the `merged` events of conversations merged into it. */
  readonly conversationId?: string;
  /** Only events of this identity's conversations whose counterpart is not blocked (identity-scoped keys). */
  readonly identityId?: string;
}

/**
 * An organization's events in commit order: those with `seq > afterSeq`, oldest first,
 * at most `limit`, optionally of some types or one conversation. Paging with the last
 * `seq` seen never skips an event, even while other processes write (see
 * store/sequences.ts): the change feed reads this.
 */
export async function listOrgEventsAfter(db: Db, q: OrgEventQuery): Promise<TimelineEvent[]> {
  let query = db.selectFrom('events').selectAll().where('org_id', '=', q.orgId).where('seq', '>', q.afterSeq);
  if (q.types?.length) query = query.where('type', 'in', [...q.types]);
  if (q.conversationId !== undefined) {
    // The conversation's own events, and the `merged` events of those merged into it.
    const id = q.conversationId;
    query = query.where((eb) => eb.or([
      eb('conversation_id', '=', id),
      eb.and([eb('type', '=', 'merged'), eb('conversation_id', 'in', eb.selectFrom('conversations').select('conversations.id')
        .where('conversations.org_id', '=', q.orgId).where('conversations.merged_into', '=', id))]),
    ]));
  }
  if (q.identityId !== undefined) {
    const identityId = q.identityId;
    query = query.where('conversation_id', 'in', (eb) => eb.selectFrom('conversations').select('conversations.id')
      .where('conversations.org_id', '=', q.orgId).where('conversations.identity_id', '=', identityId).where('conversations.is_blocked', '=', 0));
  }
  const rows = await query.orderBy('seq', 'asc').limit(q.limit).execute();
  return rows.map(eventFromRow);
}
