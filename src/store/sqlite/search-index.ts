/**
 * The search index on SQLite: an FTS5 table (https://sqlite.org/fts5.html) of the
 * messages' normalized words, contentless (it keeps only the inverted index; the
 * message of each row is in `search_messages`), `detail=none` (no positions: queries are words and prefixes, never
 * phrases), with the `ascii` tokenizer, which splits the space-separated words made by
 * domain/search-text.ts back into exactly those words.
 *
 * Rowids place each conversation's messages in one range: a conversation gets a
 * document number `doc` on its first indexed message (`search_conversations`), and its
 * n-th message is row `doc * 2^24 + n`. So the conversations matching a query are the
 * distinct `rowid / 2^24` of its matches, read from the index alone, and whether one
 * conversation matches is an FTS5 query bounded to its range.
 */
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { SearchTerm } from '../../domain/search-text.js';
import { chunks } from '../chunks.js';
import type { MatchSet, SearchIndex } from '../search.js';

/** Rows per conversation document; messages past the 16,777,215th of one conversation are not indexed. */
const SPAN = 16_777_216;

/**
 * A word every message of an organization (or identity) holds, so that a query can be
 * narrowed to it inside the index. It starts with a private-use character, which the
 * tokenizer of domain/search-text.ts never makes, so no query word can be one.
 */
function scopeToken(id: string): string {
  return `\uE000${id.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
}

/** The FTS5 query for terms: each a quoted string (`"` doubled), prefixes starred, all required. */
function matchExpression(terms: readonly SearchTerm[], scope: readonly string[] = []): string {
  const words = terms.map((t) => `"${t.token.replaceAll('"', '""')}"${t.prefix ? '*' : ''}`);
  return [...scope.map((id) => `"${scopeToken(id)}"`), ...words].join(' AND ');
}

/** A conversation's document number (null when none of its messages is indexed). */
const docOf = sql`(select s.doc from search_conversations s where s.conversation_id = conversations.id)`;
const json = (values: readonly (string | number)[]) => JSON.stringify(values);

export const sqliteSearchIndex: SearchIndex = {
  // Measured on 100,000 conversations (docs/benchmarks.md): fetching a row by key costs
  // about 3 µs, testing a walked row's key 2 µs, asking FTS5 about a walked row 10-15 µs.
  fetchLimit: 1_500,
  testLimit: 12_000,

  async createSchema(db: Kysely<any>) {
    await sql`create table search_conversations (
      doc integer primary key autoincrement,
      conversation_id text not null unique,
      messages integer not null
    )`.execute(db);
    // The message of each FTS5 row (FTS5's own `contentless_unindexed` would keep it, but
    // SQLite 3.53 cannot drop such a table cleanly).
    await sql`create table search_messages (
      rowid integer primary key,
      message_id text not null
    )`.execute(db);
    await sql`create virtual table search_fts using fts5(
      terms, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
    )`.execute(db);
  },

  async add(db, entries) {
    // A document number and a run of row numbers per conversation, then the rows: a few statements for any number of messages.
    const rows: { readonly row: number; readonly terms: string; readonly messageId: string }[] = [];
    for (const slice of chunks(entries.filter((e) => e.docs.length > 0))) {
      const { rows: ranges } = await sql<{ conversation_id: string; doc: number; messages: number }>`insert into search_conversations (conversation_id, messages)
        values ${sql.join(slice.map((e) => sql`(${e.conversation.id}, ${e.docs.length})`))}
        on conflict (conversation_id) do update set messages = messages + excluded.messages
        returning conversation_id, doc, messages`.execute(db);
      const range = new Map(ranges.map((r) => [r.conversation_id, r]));
      for (const { conversation, docs } of slice) {
        const { doc, messages } = range.get(conversation.id)!;
        const first = messages - docs.length + 1;
        const scope = `${scopeToken(conversation.org_id)} ${scopeToken(conversation.identity_id)}`;
        docs.forEach((d, k) => {
          // Past the conversation's full range, messages are not indexed.
          if (first + k < SPAN) rows.push({ row: doc * SPAN + first + k, terms: [scope, ...d.tokens].join(' '), messageId: d.messageId });
        });
      }
    }
    for (const slice of chunks(rows)) {
      await sql`insert into search_fts (rowid, terms) values ${sql.join(slice.map((r) => sql`(${r.row}, ${r.terms})`))}`.execute(db);
      await sql`insert into search_messages (rowid, message_id) values ${sql.join(slice.map((r) => sql`(${r.row}, ${r.messageId})`))}`.execute(db);
    }
  },

  async remove(db, conversationIds) {
    for (const id of conversationIds) {
      const { rows } = await sql<{ doc: number }>`delete from search_conversations where conversation_id = ${id} returning doc`.execute(db);
      for (const { doc } of rows) {
        for (const table of ['search_fts', 'search_messages']) {
          await sql`delete from ${sql.table(table)} where rowid >= ${doc} * ${sql.lit(SPAN)} and rowid < (${doc} + 1) * ${sql.lit(SPAN)}`.execute(db);
        }
      }
    }
  },

  async merge(db, survivor, mergedId, documents) {
    // A conversation's messages are one rowid range and the index keeps no text, so the
    // merged conversation's messages are written again at the end of the survivor's
    // range. Ranges stay in arrival order per conversation, so after a merge the "latest
    // matching message" of latestMatches may be one of the merged conversation's rather
    // than a newer match of the survivor's from before the merge (snippets only).
    const docs = await documents();
    await sqliteSearchIndex.remove(db, [mergedId]);
    await sqliteSearchIndex.add(db, [{ conversation: survivor, docs }]);
  },

  async matching(db, scope, terms, limit) {
    const within = scope.identityId === undefined ? [scope.orgId] : [scope.orgId, scope.identityId];
    const { rows } = await sql<{ doc: number }>`select distinct rowid / ${sql.lit(SPAN)} as doc from search_fts
      where search_fts match ${matchExpression(terms, within)} limit ${limit + 1}`.execute(db);
    if (rows.length > limit) return null;
    const docs = json(rows.map((r) => r.doc));
    return {
      size: rows.length,
      fetch: () => sql<SqlBool>`conversations.id in (select conversation_id from search_conversations
        where doc in (select value from json_each(${docs})))`,
      test: () => sql<SqlBool>`${docOf} in (select value from json_each(${docs}))`,
    } satisfies MatchSet;
  },

  matches(terms): Expression<SqlBool> {
    // Bounds on rowid from a scalar subquery reach FTS5 as constraints, so it seeks to
    // the conversation's range instead of reading the whole match list.
    return sql<SqlBool>`exists (select 1 from search_fts f where f.search_fts match ${matchExpression(terms)}
      and f.rowid >= ${docOf} * ${sql.lit(SPAN)} and f.rowid < (${docOf} + 1) * ${sql.lit(SPAN)})`;
  },

  async latestMatches(db, conversationIds, terms) {
    const { rows } = await sql<{ conversation_id: string; message_id: string | null }>`
      select s.conversation_id, (select m.message_id from search_messages m where m.rowid = (
        select f.rowid from search_fts f where f.search_fts match ${matchExpression(terms)}
        and f.rowid >= s.doc * ${sql.lit(SPAN)} and f.rowid < (s.doc + 1) * ${sql.lit(SPAN)} order by f.rowid desc limit 1)) as message_id
      from search_conversations s where s.conversation_id in (select value from json_each(${json(conversationIds)}))`.execute(db);
    return new Map(rows.filter((r) => r.message_id !== null).map((r) => [r.conversation_id, r.message_id!]));
  },
};
