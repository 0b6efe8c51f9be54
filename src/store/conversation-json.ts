/**
 * A conversation's API JSON (the `Conversation` resource without `search`), written by
 * SQLite itself in SQL, for list pages: the page is then the rows' texts joined, instead of
 * 51 rows of 27 columns made into JavaScript values, turned into API objects and
 * serialized again (docs/benchmarks.md, "Inbox list and counts").
 *
 * It is the SQL twin of api/presenters.ts `conversationView` over a `conversations` row;
 * test/store/conversation-json.test.ts checks that the two agree for any row and that the
 * fields are the resource's, so neither can change alone. Strings are quoted by SQLite's
 * `json_quote`, which escapes as JSON requires (RFC 8259 section 7).
 *
 * Each conversation's JSON is kept, not worked out per read: the table `conversation_json`
 * (id, json) holds it, written by triggers on `conversations` in the transaction of every
 * write of a row, whatever code path makes it (an event's fold, a merge, a PATCH, a
 * deleted identity's cascade), as the counters are (store/conversation-counts.ts). A list
 * page then reads one text per row instead of building it from 26 columns: the page
 * query of the first page of 100,000 conversations took 166 µs with the JSON built, 78 µs
 * with it read (docs/benchmarks.md, "Where the time goes"); a write of a conversation row
 * costs about 5 µs more. {@link ensureConversationJson} installs the table and triggers when
 * the store migrates, and builds them again whenever the expression here has changed (the
 * triggers' SQL in the file is not the one this module writes), so no stored JSON outlives
 * a change of the fields.
 *
 * SQLite only. On PostgreSQL the same text (built with `to_json`) cut the Node.js CPU of an
 * uncached first page from 1.67 to 0.99 ms, but PostgreSQL's own went from 0.59 to 1.13 ms
 * (the query's execution from 0.23 to 0.97 ms): work moved from the nodes, which scale
 * out, to the database, which is shared, so PostgreSQL lists keep building rows in Node.js.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';

/** A field's JSON from its SQL text: strings are quoted by `json_quote`. */
const str = (expr: string) => `json_quote(${expr})`;
/** The JSON of a 0/1 column (false/true). */
const bool = (expr: string) => `iif(${expr} = 1, 'true', 'false')`;

/**
 * An object of the given fields, each a text expression of its JSON: one `printf` per
 * object, which writes the row in one buffer (a chain of `||` copies the growing text at
 * each step, and took a third longer).
 */
function object(fields: readonly (readonly [field: string, json: string])[]): string {
  const format = fields.map(([field], i) => `${i === 0 ? '{' : ','}"${field}":%s`).join('');
  return `printf('${format}}', ${fields.map(([, json]) => json).join(', ')})`;
}

/**
 * The resource's fields in its schema's order (api/schemas.ts `ConversationFields`), each
 * with the SQL of its JSON, reading the row's columns through `col` (a qualified column
 * of a query, or `new.` in a trigger).
 */
function fields(col: (name: string) => string): readonly (readonly [field: string, json: string])[] {
  // As conversationView: no latest_message unless latest_at is set (a non-empty string).
  const latest = `iif(${col('latest_at')} is null or ${col('latest_at')} = '', 'null', ${object([
    ['text', str(`coalesce(${col('latest_text')}, '')`)],
    ['at', str(col('latest_at'))],
    ['direction', `iif(${col('latest_direction')} = 'outbound', '"outbound"', '"inbound"')`],
    ['has_media', bool(col('latest_has_media'))],
  ])})`;
  return [
    ['id', str(col('id'))],
    ['identity_id', str(col('identity_id'))],
    ['account_id', str(col('account_id'))],
    ['channel', str(col('channel'))],
    ['subject', str(col('subject'))],
    ['counterpart', str(col('counterpart'))],
    ['contact_id', str(col('contact_id'))],
    ['created_at', str(col('created_at'))],
    ['message_count', col('message_count')],
    ['unread_count', col('unread_count')],
    ['latest_message', latest],
    ['last_event_at', str(col('last_event_at'))],
    ['labels', `json(${col('labels')})`], // JSON text already; json() refuses a malformed one rather than keep it
    ['archived', bool(col('archived'))],
    ['no_reply_at', str(col('no_reply_at'))],
    ['last_no_reply_at', str(col('last_no_reply_at'))],
    ['sla_due_at', str(col('sla_due_at'))],
    ['overdue', bool(col('overdue'))],
    ['starred', bool(col('starred'))],
    ['assigned_to', str(col('assigned_to'))],
    ['is_blocked', bool(col('is_blocked'))],
    ['connection_status', str(col('connection_status'))],
    ['connection_id', str(col('connection_id'))],
  ];
}

/** The API fields the expression writes, in order. */
export const CONVERSATION_JSON_FIELDS: readonly string[] = fields(() => '').map(([field]) => field);

/** The columns of `conversations` the JSON is made of (a write of any other leaves it as it is). */
const SOURCE_COLUMNS: readonly string[] = (() => {
  const names = new Set<string>();
  fields((name) => {
    names.add(name);
    return name;
  });
  return [...names];
})();

/** The expression over a `conversations` row of a query (list queries may hold subqueries of other tables). */
const QUERY_EXPRESSION = object(fields((name) => `conversations.${name}`));
/** The expression over the row a trigger fires for. */
const TRIGGER_EXPRESSION = object(fields((name) => `new.${name}`));

/**
 * The select expression (SQLite) of a `conversations` row's API JSON, as text: one object
 * with the fields of {@link CONVERSATION_JSON_FIELDS}, equal (once parsed) to
 * `conversationView` of the row, worked out from the columns as `conversation_json` is
 * filled; lists read the kept copy ({@link storedConversationJson}), and the tests check it
 * against this.
 */
export function conversationJson(): RawBuilder<string> {
  return sql<string>`${sql.raw(QUERY_EXPRESSION)}`;
}

/**
 * The select expression (SQLite) of a `conversations` row's kept JSON (`conversation_json`),
 * the same text as {@link conversationJson}'s: every row has one (the triggers write it in
 * the transaction that writes the row).
 */
export function storedConversationJson(): RawBuilder<string> {
  return sql<string>`(select conversation_json.json from conversation_json where conversation_json.id = conversations.id)`;
}

const UPSERT = `INSERT INTO conversation_json (id, json) VALUES (new.id, ${TRIGGER_EXPRESSION})
    ON CONFLICT (id) DO UPDATE SET json = excluded.json`;

/** The triggers that keep `conversation_json`, by name: their SQL as SQLite keeps it (`sqlite_master.sql`). */
const TRIGGERS: ReadonlyMap<string, string> = new Map([
  ['conversation_json_insert', `CREATE TRIGGER conversation_json_insert AFTER INSERT ON conversations BEGIN
    ${UPSERT};
  END`],
  ['conversation_json_update', `CREATE TRIGGER conversation_json_update AFTER UPDATE OF ${SOURCE_COLUMNS.join(', ')} ON conversations BEGIN
    DELETE FROM conversation_json WHERE id = old.id AND old.id IS NOT new.id;
    ${UPSERT};
  END`],
  ['conversation_json_delete', `CREATE TRIGGER conversation_json_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversation_json WHERE id = old.id;
  END`],
]);

/**
 * Installs `conversation_json` and its triggers (SQLite), filled from the conversations
 * there are, unless they are installed already as this module writes them: on a store
 * whose triggers differ (an older expression), or lack one, the triggers are made again and
 * every row's JSON written anew, in one transaction.
 *
 * @returns whether it (re)built them.
 */
export async function ensureConversationJson(db: Kysely<any>): Promise<boolean> {
  const installed = async (q: Kysely<any>) => {
    const { rows } = await sql<{ type: string; name: string; sql: string }>`select type, name, sql from sqlite_master
      where (type = 'trigger' and tbl_name = 'conversations' and name like 'conversation\\_json\\_%' escape '\\') or (type = 'table' and name = 'conversation_json')`.execute(q);
    const triggers = rows.filter((r) => r.type === 'trigger');
    return rows.some((r) => r.type === 'table') && triggers.length === TRIGGERS.size && triggers.every((r) => TRIGGERS.get(r.name) === r.sql);
  };
  if (await installed(db)) return false;
  await db.transaction().execute(async (tx) => {
    if (await installed(tx)) return; // another process built them meanwhile
    const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'trigger' and name like 'conversation\\_json\\_%' escape '\\'`.execute(tx);
    for (const { name } of rows) await sql.raw(`DROP TRIGGER "${name}"`).execute(tx);
    await sql`create table if not exists conversation_json (id text primary key, json text not null) without rowid`.execute(tx);
    await sql`delete from conversation_json`.execute(tx);
    await sql.raw(`insert into conversation_json (id, json) select conversations.id, ${QUERY_EXPRESSION} from conversations`).execute(tx);
    for (const statement of TRIGGERS.values()) await sql.raw(statement).execute(tx);
  });
  return true;
}
