/**
 * Full-text search over messages (`q` on the conversation list): one interface, a SQLite
 * implementation (FTS5, sqlite/search-index.ts) and a PostgreSQL one (tsvector and GIN,
 * postgres/search-index.ts). What a word is, and snippets, are in domain/search-text.ts.
 *
 * One index document per message: its subject, body, addresses and display names,
 * written once when its `message` event is appended (in that transaction, so a committed
 * message is searchable) and never rewritten. A conversation matches when one of its
 * messages holds every query term.
 *
 * The list is ordered by `last_event_at`, which the index does not hold, so the list asks
 * the index in one of three ways ({@link searchClause}), by how many conversations of the
 * scope (organization, identity) match; each is quick where the others are slow:
 *
 * 1. few (at most `fetchLimit`): read the matching conversations' keys from the index,
 *    then just those rows, and sort them;
 * 2. more (at most `testLimit`): read the keys likewise, then walk the conversation list
 *    newest first, as without `q`, keeping the rows whose key is among them;
 * 3. more still: walk the list and ask the index about each row; matches are common, so
 *    the page fills after few rows.
 */
import type { Expression, Kysely, SqlBool } from 'kysely';
import type { MessageData, TimelineEvent } from '../domain/events.js';
import { messageTokens, searchSnippet, type SearchTerm } from '../domain/search-text.js';
import { postgresSearchIndex } from './postgres/search-index.js';
import { sqliteSearchIndex } from './sqlite/search-index.js';
import { dialectOf, type Db, type Dialect } from './store.js';

/** One message's index document. */
export interface SearchDocument {
  readonly messageId: string;
  /** The `seq` of its `message` event: later messages have greater ones. */
  readonly seq: number;
  /** Its distinct normalized words (domain/search-text.ts `messageTokens`). */
  readonly tokens: readonly string[];
}

/** The conversation a document belongs to. */
export type SearchConversation = { readonly id: string; readonly org_id: string; readonly identity_id: string };

/** A conversation's new documents. */
export interface SearchEntry {
  readonly conversation: SearchConversation;
  readonly docs: readonly SearchDocument[];
}

/** Where to look: an organization, optionally one identity of it. */
export interface SearchScope {
  readonly orgId: string;
  readonly identityId?: string;
}

/** The matching conversations of a scope, as index keys. */
export interface MatchSet {
  /** How many conversations match. */
  readonly size: number;
  /** A condition on `conversations` that leads the query to fetch these rows by key (way 1). */
  fetch(): Expression<SqlBool>;
  /** A condition on `conversations` tested on each row of a walk in list order (way 2). */
  test(): Expression<SqlBool>;
}

/** A full-text index of messages, in one store's dialect. */
export interface SearchIndex {
  /** Most matches for way 1 and way 2 of the module comment (tuned per store, see docs/benchmarks.md). */
  readonly fetchLimit: number;
  readonly testLimit: number;
  /** Creates the index's tables (migration `0005_search`). */
  createSchema(db: Kysely<any>): Promise<void>;
  /** Indexes messages, each conversation's oldest first, in the caller's transaction (each conversation once in `entries`). */
  add(db: Db, entries: readonly SearchEntry[]): Promise<void>;
  /** Drops the documents of conversations being deleted. */
  remove(db: Db, conversationIds: readonly string[]): Promise<void>;
  /**
   * Files the documents of the conversation `mergedId` under `survivor` (store/merge.ts),
   * in the caller's transaction. `documents` gives that conversation's messages, oldest
   * first, for an index that must write them again.
   */
  merge(db: Db, survivor: SearchConversation, mergedId: string, documents: () => Promise<SearchDocument[]>): Promise<void>;
  /** The conversations of the scope with a message matching every term, or null when there are more than `limit`. */
  matching(db: Db, scope: SearchScope, terms: readonly SearchTerm[], limit: number): Promise<MatchSet | null>;
  /** A condition on `conversations`: it has a message matching every term (an index lookup per row: way 3). */
  matches(terms: readonly SearchTerm[]): Expression<SqlBool>;
  /** The latest matching message of each conversation (id → message id). */
  latestMatches(db: Db, conversationIds: readonly string[], terms: readonly SearchTerm[]): Promise<Map<string, string>>;
}

/** The search index of the store `db` belongs to. */
export function searchIndexOf(db: Db): SearchIndex {
  return searchIndexFor(dialectOf(db));
}

export function searchIndexFor(dialect: Dialect): SearchIndex {
  return dialect === 'postgres' ? postgresSearchIndex : sqliteSearchIndex;
}

/**
 * The index documents of the `message` events among `events`; an event may bring its
 * words already made (`tokens`, as an import's parse workers make them), else they are made here.
 */
export function searchDocuments(events: readonly (Pick<TimelineEvent, 'type' | 'data' | 'seq'> & { readonly tokens?: readonly string[] })[]): SearchDocument[] {
  return events.filter((e) => e.type === 'message').map((e) => {
    const data = e.data as MessageData;
    return { messageId: data.message_id, seq: e.seq, tokens: e.tokens ?? messageTokens(data) };
  });
}

/**
 * The condition on `conversations` for a query's terms in a scope, chosen by how many
 * conversations match (see the module comment). Give it to `whereFilter` in
 * store/conversations.ts.
 */
export async function searchClause(db: Db, scope: SearchScope, terms: readonly SearchTerm[]): Promise<Expression<SqlBool>> {
  const index = searchIndexOf(db);
  const set = await index.matching(db, scope, terms, index.testLimit);
  if (set === null) return index.matches(terms);
  return set.size <= index.fetchLimit ? set.fetch() : set.test();
}

/** Where a conversation matched: the snippet (HTML with `<mark>`) and its message. */
export interface SearchHit {
  readonly snippet: string;
  readonly message_id: string | null;
}

/**
 * The search hit of each conversation (of the organization, as listed for the query):
 * the snippet of its latest matching message.
 */
export async function searchHits(
  db: Db, orgId: string, conversationIds: readonly string[], terms: readonly SearchTerm[],
): Promise<Map<string, SearchHit>> {
  const out = new Map<string, SearchHit>();
  if (conversationIds.length === 0) return out;
  const latest = await searchIndexOf(db).latestMatches(db, conversationIds, terms);
  const messageIds = [...latest.values()];
  if (messageIds.length === 0) return out;
  const rows = await db.selectFrom('messages').innerJoin('events', 'events.id', 'messages.event_id')
    .select(['messages.id', 'events.data'])
    .where('messages.org_id', '=', orgId).where('messages.id', 'in', messageIds)
    .execute();
  const data = new Map(rows.map((r) => [r.id, JSON.parse(r.data) as MessageData]));
  for (const [conversationId, messageId] of latest) {
    const message = data.get(messageId);
    if (!message) continue;
    out.set(conversationId, { snippet: searchSnippet(message, terms) ?? message.snippet, message_id: messageId });
  }
  return out;
}

/**
 * Indexes every message already stored (migration `0005_search`), a batch of events at
 * a time, in `seq` order per organization.
 *
 * @returns how many messages it indexed.
 */
export async function backfillSearch(db: Kysely<any>, index: SearchIndex, batch = 1_000): Promise<number> {
  let count = 0;
  let after = { org: '', seq: -1 };
  for (;;) {
    const rows: { org_id: string; seq: number | string; conversation_id: string; identity_id: string; data: string }[] = await db
      .selectFrom('events as e').innerJoin('conversations as c', 'c.id', 'e.conversation_id')
      .select(['e.org_id', 'e.seq', 'e.conversation_id', 'c.identity_id', 'e.data'])
      .where('e.type', '=', 'message')
      .where((eb) => eb.or([eb('e.org_id', '>', after.org), eb.and([eb('e.org_id', '=', after.org), eb('e.seq', '>', after.seq)])]))
      .orderBy('e.org_id').orderBy('e.seq').limit(batch).execute();
    if (rows.length === 0) return count;
    const write = async (tx: Db) => {
      for (const r of rows) {
        const conversation = { id: r.conversation_id, org_id: r.org_id, identity_id: r.identity_id };
        await index.add(tx, [{ conversation, docs: searchDocuments([{ type: 'message', seq: Number(r.seq), data: JSON.parse(r.data) }]) }]);
      }
    };
    if (db.isTransaction) await write(db as Db);
    else await db.transaction().execute((tx) => write(tx as Db));
    count += rows.length;
    const last = rows.at(-1)!;
    after = { org: last.org_id, seq: Number(last.seq) };
  }
}
