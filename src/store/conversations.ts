/**
 * Conversation rows: creation, scoped reads and the keyset-paged list.
 */
import { sql, type Expression, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { storedConversationJson } from './conversation-json.js';
import { countable, countFromCounters, countManyFromCounters, type Count } from './conversation-counts.js';
import { emptySummary } from '../domain/projection.js';
import type { SearchTerm } from '../domain/search-text.js';
import { subjectKey } from '../domain/threading.js';
import { newId } from '../ids.js';
import type { Database } from './schema.js';
import { searchClause } from './search.js';
import type { Db } from './store.js';
import { summaryColumns, type ConversationRow } from './timeline.js';

export interface NewConversation {
  readonly orgId: string;
  readonly identityId: string;
  readonly accountId: string;
  readonly channel: string;
  readonly subject: string | null;
  readonly counterpart: string | null;
  readonly contactId: string | null;
  /** RFC 3339; the summary starts here. */
  readonly at: string;
}

/** The row of a new, empty conversation (not yet written); not blocked. */
export function newConversationRow(c: NewConversation): ConversationRow {
  return {
    id: newId('conv'),
    org_id: c.orgId,
    identity_id: c.identityId,
    account_id: c.accountId,
    channel: c.channel,
    subject: c.subject,
    counterpart: c.counterpart,
    contact_id: c.contactId,
    created_at: new Date().toISOString(),
    subject_key: subjectKey(c.subject),
    merged_into: null,
    is_blocked: 0,
    ...summaryColumns(emptySummary(c.at)),
  } as ConversationRow;
}

/** Inserts an empty conversation and returns its row. */
export async function createConversation(db: Db, c: NewConversation): Promise<ConversationRow> {
  const row = newConversationRow(c);
  await db.insertInto('conversations').values(row).execute();
  return row;
}

/** Conversations of the org (or one identity) past their SLA deadline; from the counters. */
export async function countOverdue(db: Db, orgId: string, identityId?: string): Promise<number> {
  return (await countFromCounters(db, orgId, { overdue: true, identityId }))!.total;
}

/** Longest chain of merges followed (a guard: merges only go into older conversations, so chains end). */
const MAX_MERGE_HOPS = 64;

/**
 * A conversation of the org, or undefined (missing and foreign look the same). An id
 * that was merged into another conversation finds the one it is part of now (following
 * a chain of merges), so every request naming a merged id acts on the survivor.
 */
export async function findConversation(db: Db, orgId: string, id: string): Promise<ConversationRow | undefined> {
  let row = await findConversationRow(db, orgId, id);
  for (let hops = 0; row?.merged_into && hops < MAX_MERGE_HOPS; hops++) row = await findConversationRow(db, orgId, row.merged_into);
  return row;
}

/** The row of exactly this id, merged or not. */
export async function findConversationRow(db: Db, orgId: string, id: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
}

/** A row as it is now: the conversation it was merged into (following chains), else itself. */
export async function liveConversation(db: Db, row: ConversationRow): Promise<ConversationRow | undefined> {
  return row.merged_into === null ? row : findConversation(db, row.org_id, row.merged_into);
}

/**
 * The ids whose events make up a conversation's timeline: its own, then those of every
 * conversation merged into it, directly or through a chain (nearest first). One index
 * lookup (`conversations_merged_into`) for a conversation nothing was merged into.
 */
export async function timelineIds(db: Db, orgId: string, id: string): Promise<string[]> {
  const out = [id];
  let frontier = [id];
  while (frontier.length > 0 && out.length < 10_000) {
    const rows = await db.selectFrom('conversations').select('id')
      .where('merged_into', 'in', frontier).where('org_id', '=', orgId).orderBy('id').execute();
    frontier = rows.map((r) => r.id);
    out.push(...frontier);
  }
  return out;
}

export interface ConversationFilter {
  readonly identityId?: string;
  /** Only this channel (`email`, `sms`, …). */
  readonly channel?: string;
  readonly archived?: boolean;
  /** Exact participant address (lower-case). */
  readonly with?: string;
  /** Participant domain suffix (`example.com` matches `mail.example.com`); letters, digits, `.` and `-` only. */
  readonly withDomain?: string;
  /** Inclusive lower bound on `last_event_at`, RFC 3339. */
  readonly since?: string;
  /** Exclusive upper bound on `last_event_at`, RFC 3339. */
  readonly until?: string;
  /** Past (true) or not past (false) the SLA deadline. */
  readonly overdue?: boolean;
  readonly starred?: boolean;
  /** Has unread messages (true) or none (false). */
  readonly unread?: boolean;
  /** Carries this label. */
  readonly label?: string;
  /** Assigned to this member, or to nobody (`null`). */
  readonly assignedTo?: string | null;
  /** Not assigned to this member (unassigned, or someone else's). */
  readonly notAssignedTo?: string;
  /** Counterpart blocked by a contact rule (true) or not (false); undefined means both. */
  readonly isBlocked?: boolean;
  /** Full text: has a message holding every term (at least one; store/search.ts). */
  readonly q?: readonly SearchTerm[];
}

export interface ConversationPageQuery extends ConversationFilter {
  readonly limit: number;
  /** Keyset position: rows strictly after it in (`last_event_at` desc, `id` desc). */
  readonly after?: { readonly lastEventAt: string; readonly id: string };
}

/** `LIKE` pattern text with its wildcards escaped (escape character `\`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

type ConversationQuery = SelectQueryBuilder<Database, 'conversations', object>;

/**
 * Narrows a query on `conversations` to the org's live (not merged) conversations and a
 * filter (shared by lists and counts).
 *
 * @param search the condition for `q.q`, from store/search.ts `searchClause` (it may have
 *   to query first); required when `q.q` is given.
 */
export function whereFilter<Q extends ConversationQuery>(query: Q, orgId: string, q: ConversationFilter, search?: Expression<SqlBool>): Q {
  // Merged conversations are never listed or counted (the partial indexes of migration 0008 hold only live rows).
  let out = query.where('conversations.org_id', '=', orgId).where('conversations.merged_into', 'is', null) as Q;
  const where = (f: (q: Q) => unknown) => { out = f(out) as Q; };
  if (q.q?.length) {
    if (!search) throw new Error('whereFilter: a filter with q needs its searchClause');
    where((x) => x.where(search));
  }
  if (q.identityId) where((x) => x.where('identity_id', '=', q.identityId!));
  if (q.channel) where((x) => x.where('channel', '=', q.channel!));
  if (q.archived !== undefined) where((x) => x.where('archived', '=', q.archived ? 1 : 0));
  if (q.overdue !== undefined) where((x) => x.where('overdue', '=', q.overdue ? 1 : 0));
  if (q.starred !== undefined) where((x) => x.where('starred', '=', q.starred ? 1 : 0));
  if (q.unread !== undefined) where((x) => x.where('unread_count', q.unread ? '>' : '=', 0));
  if (q.isBlocked !== undefined) where((x) => x.where('is_blocked', '=', q.isBlocked ? 1 : 0));
  if (q.assignedTo !== undefined) {
    where((x) => (q.assignedTo === null ? x.where('assigned_to', 'is', null) : x.where('assigned_to', '=', q.assignedTo!)));
  }
  if (q.notAssignedTo !== undefined) {
    where((x) => x.where((eb) => eb.or([eb('assigned_to', 'is', null), eb('assigned_to', '!=', q.notAssignedTo!)])));
  }
  if (q.label !== undefined) {
    // `labels` is a JSON array of strings: match the label's JSON form, quotes included.
    const pattern = `%${likeLiteral(JSON.stringify(q.label))}%`;
    where((x) => x.where(sql<boolean>`labels like ${pattern} escape '\\'`));
  }
  if (q.since) where((x) => x.where('last_event_at', '>=', q.since!));
  if (q.until) where((x) => x.where('last_event_at', '<', q.until!));
  if (q.with) {
    const address = q.with;
    where((x) => x.where((eb) => eb.exists(
      eb.selectFrom('conversation_participants as p').select('p.address')
        .whereRef('p.conversation_id', '=', 'conversations.id')
        .where('p.org_id', '=', orgId).where('p.address', '=', address),
    )));
  }
  if (q.withDomain) {
    const domain = q.withDomain;
    where((x) => x.where((eb) => eb.exists(
      eb.selectFrom('conversation_participants as p').select('p.address')
        .whereRef('p.conversation_id', '=', 'conversations.id')
        .where('p.org_id', '=', orgId)
        .where((w) => w.or([w('p.domain', '=', domain), w('p.domain', 'like', `%.${likeLiteral(domain)}`)])),
    )));
  }
  return out;
}

/**
 * Newest activity first, keyset-paged on (`last_event_at`, `id`); returns up to
 * `limit + 1` rows so the caller can tell whether another page follows.
 */
export async function listConversations(db: Db, orgId: string, q: ConversationPageQuery): Promise<ConversationRow[]> {
  return (await pageQuery(db, orgId, q)).selectAll().execute();
}

/** A row of a list page as the API shows it: its position and its JSON (store/conversation-json.ts). */
export interface ConversationJsonRow {
  readonly id: string;
  readonly last_event_at: string;
  /** The `Conversation` resource, without `search`, as JSON text. */
  readonly json: string;
}

/**
 * {@link listConversations} with each row as its API JSON, written by the store and kept
 * with the row (store/conversation-json.ts): the same rows, in the same order.
 */
export async function listConversationJson(db: Db, orgId: string, q: ConversationPageQuery): Promise<ConversationJsonRow[]> {
  return (await pageQuery(db, orgId, q))
    .select(['conversations.id', 'conversations.last_event_at', storedConversationJson().as('json')])
    .execute();
}

/** The rows of a page of `q`, newest activity first, `limit + 1` of them; nothing selected yet. */
async function pageQuery(db: Db, orgId: string, q: ConversationPageQuery) {
  const search = q.q?.length ? await searchClause(db, { orgId, identityId: q.identityId }, q.q) : undefined;
  let query = whereFilter(db.selectFrom('conversations'), orgId, q, search);
  if (q.after) {
    const { lastEventAt, id } = q.after;
    // A row-value comparison, so both stores seek the (org_id, last_event_at, id) index
    // to the position instead of walking it from the top (an OR of the two columns does not).
    query = query.where((eb) => eb(eb.refTuple('last_event_at', 'id'), '<', eb.tuple(lastEventAt, id)));
  }
  return query.orderBy('last_event_at', 'desc').orderBy('id', 'desc').limit(q.limit + 1);
}

/**
 * How many conversations match a filter, and how many of those have unread messages:
 * from the counters when the filter names only counted columns (store/conversation-counts.ts;
 * one statement summing the organization's counter rows), else by counting the matching
 * rows (an index range or a scan).
 */
export async function countConversations(db: Db, orgId: string, q: ConversationFilter): Promise<Count> {
  const counted = await countFromCounters(db, orgId, q);
  if (counted) return counted;
  return scanCount(db, orgId, q);
}

/**
 * {@link countConversations} of several filters (null: nothing to count, `{0, 0}`), with
 * one statement over the counters for all the countable ones (the views of
 * `GET /v1/views/counts`) and a count of rows for each of the others.
 */
export async function countConversationsMany(db: Db, orgId: string, filters: readonly (ConversationFilter | null)[]): Promise<Count[]> {
  const counted = filters.filter((f): f is ConversationFilter => f !== null && countable(f));
  const sums = await countManyFromCounters(db, orgId, counted);
  const out: Count[] = [];
  for (const f of filters) out.push(f === null ? { total: 0, unread: 0 } : countable(f) ? sums.shift()! : await scanCount(db, orgId, f));
  return out;
}

/** {@link countConversations} by counting rows; exported for the tests that check the counters against it. */
export async function scanCount(db: Db, orgId: string, q: ConversationFilter): Promise<Count> {
  const search = q.q?.length ? await searchClause(db, { orgId, identityId: q.identityId }, q.q) : undefined;
  const row = await whereFilter(db.selectFrom('conversations'), orgId, q, search)
    .select((eb) => [
      eb.fn.countAll<number | string>().as('total'),
      eb.fn.sum<number | string | null>(sql`case when unread_count > 0 then 1 else 0 end`).as('unread'),
    ])
    .executeTakeFirstOrThrow();
  return { total: Number(row.total), unread: Number(row.unread ?? 0) };
}
