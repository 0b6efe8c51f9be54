/**
 * The search index on PostgreSQL: one row per message with its normalized words as a
 * `tsvector` (`array_to_tsvector`: the words of domain/search-text.ts as lexemes, no
 * parser, no stemming, no positions) under a GIN index, and queries as `tsquery`
 * (https://www.postgresql.org/docs/current/datatype-textsearch.html) of those words,
 * quoted, all required, prefixes as `:*`.
 *
 * Each row's tsvector also holds a lexeme naming its conversation, so whether one
 * conversation matches is a GIN lookup of the query AND that lexeme, without reading
 * the conversation's messages.
 */
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { SearchTerm } from '../../domain/search-text.js';
import { chunks } from '../chunks.js';
import type { MatchSet, SearchIndex } from '../search.js';

/**
 * The lexeme naming a conversation. It starts with a private-use character, which the
 * tokenizer of domain/search-text.ts never makes, so no query word can be one.
 */
const CONVERSATION_MARK = '\uE000';

/** A tsquery literal operand: the lexeme quoted (`'` doubled, `\` escaped). */
const lexeme = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** The tsquery for terms: each lexeme quoted, prefixes with `:*`, `&` between them. */
function tsquery(terms: readonly SearchTerm[]): string {
  return terms.map((t) => `${lexeme(t.token)}${t.prefix ? ':*' : ''}`).join(' & ');
}

/** Matching messages read at most to find the matching conversations, per conversation allowed. */
const MESSAGES_PER_CONVERSATION = 2;

export const postgresSearchIndex: SearchIndex = {
  // Measured on 100,000 conversations (docs/benchmarks.md).
  fetchLimit: 700,
  testLimit: 5_000,

  async createSchema(db: Kysely<any>) {
    await sql`create table search_messages (
      message_id text collate "C" primary key,
      org_id text collate "C" not null,
      identity_id text collate "C" not null,
      conversation_id text collate "C" not null,
      seq bigint not null,
      terms tsvector not null
    )`.execute(db);
    await sql`create index search_messages_conversation on search_messages (conversation_id, seq)`.execute(db);
    await sql`create index search_messages_terms on search_messages using gin (terms)`.execute(db);
  },

  async add(db, entries) {
    const rows = entries.flatMap(({ conversation, docs }) => docs.map((d) => ({
      message_id: d.messageId, org_id: conversation.org_id, identity_id: conversation.identity_id, conversation_id: conversation.id, seq: d.seq,
      terms: sql`array_to_tsvector(${[`${CONVERSATION_MARK}${conversation.id}`, ...d.tokens]}::text[])`,
    })));
    for (const slice of chunks(rows)) await db.insertInto('search_messages' as any).values(slice).execute();
  },

  async remove(db, conversationIds) {
    if (conversationIds.length === 0) return;
    await sql`delete from search_messages where conversation_id = any(${[...conversationIds]}::text[])`.execute(db);
  },

  async merge(db, survivor, mergedId) {
    await sql`update search_messages set conversation_id = ${survivor.id},
      terms = ts_delete(terms, ${CONVERSATION_MARK + mergedId}::text) || array_to_tsvector(array[${CONVERSATION_MARK + survivor.id}]::text[])
      where conversation_id = ${mergedId}`.execute(db);
  },

  async matching(db, scope, terms, limit) {
    const scan = limit * MESSAGES_PER_CONVERSATION;
    const { rows } = await sql<{ conversation_id: string }>`select conversation_id from search_messages
      where org_id = ${scope.orgId} ${scope.identityId === undefined ? sql`` : sql`and identity_id = ${scope.identityId}`}
      and terms @@ ${tsquery(terms)}::tsquery limit ${scan}`.execute(db);
    if (rows.length >= scan) return null;
    const ids = [...new Set(rows.map((r) => r.conversation_id))];
    if (ids.length > limit) return null;
    return {
      size: ids.length,
      fetch: () => sql<SqlBool>`conversations.id = any(${ids}::text[])`,
      test: () => sql<SqlBool>`conversations.id = any(${ids}::text[])`,
    } satisfies MatchSet;
  },

  matches(terms): Expression<SqlBool> {
    return sql<SqlBool>`exists (select 1 from search_messages s
      where s.terms @@ (${tsquery(terms)}::tsquery && quote_literal(${CONVERSATION_MARK} || conversations.id)::tsquery))`;
  },

  async latestMatches(db, conversationIds, terms) {
    const { rows } = await sql<{ conversation_id: string; message_id: string }>`
      select distinct on (conversation_id) conversation_id, message_id from search_messages
      where conversation_id = any(${[...conversationIds]}::text[]) and terms @@ ${tsquery(terms)}::tsquery
      order by conversation_id, seq desc`.execute(db);
    return new Map(rows.map((r) => [r.conversation_id, r.message_id]));
  },
};
