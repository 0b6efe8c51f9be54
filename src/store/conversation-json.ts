/**
 * A conversation's API JSON (the `Conversation` resource without `search`), written by
 * the store itself in SQL, for list pages: the page is then the rows' texts joined, instead
 * of 51 rows of 27 columns made into JavaScript values, turned into API objects and
 * serialized again (docs/benchmarks.md, "Inbox list and counts").
 *
 * It is the SQL twin of api/presenters.ts `conversationView` over a `conversations` row, in
 * each store's SQL (SQLite's `json_quote` and `printf`, PostgreSQL's `to_json` and
 * `format`); test/store/conversation-json.test.ts checks on both stores that it agrees with
 * the presenter for any row and that the fields are the resource's, so neither can change
 * alone.
 *
 * Each conversation's JSON is kept, not worked out per read: the table `conversation_json`
 * (id, json) holds it, written by triggers on `conversations` in the transaction of every
 * write of a row, whatever code path makes it (an event's fold, a merge, a PATCH, a
 * deleted identity's cascade), as the counters are (store/conversation-counts.ts). A list
 * page then reads one text per row instead of building it from 26 columns: on SQLite the
 * first page of 100,000 conversations took 166 µs with the JSON built, 78 µs with it read;
 * a write of a conversation row costs about 5 µs more on SQLite, about 50 µs more on
 * PostgreSQL (docs/benchmarks.md, "Where the time goes"). On PostgreSQL, the JSON made per
 * read cost the database more than the node saved (the query's execution went from 0.23
 * to 0.97 ms); kept, the page is an index-only scan and one primary-key lookup per row, and
 * the node's CPU per uncached first page fell by about 40%.
 *
 * {@link ensureConversationJson} installs the table and triggers when the store migrates,
 * and builds them again whenever they are not the ones this module writes (an older
 * layout, or an expression changed since), so no stored JSON outlives a change of the
 * fields.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from './store.js';

/** How each store writes the parts of the JSON text, as SQL over a column expression. */
interface JsonSql {
  /** A string column's JSON (a quoted string, or `null`). */
  readonly str: (expr: string) => string;
  /** The JSON of a 0/1 column (false/true). */
  readonly bool: (expr: string) => string;
  /** `then` when `cond` holds, else `otherwise`. */
  readonly when: (cond: string, then: string, otherwise: string) => string;
  /** A column holding JSON text already, refused when it is not JSON rather than kept. */
  readonly json: (expr: string) => string;
  /** An object of the given fields, each a text expression of its JSON. */
  readonly object: (fields: readonly (readonly [field: string, json: string])[]) => string;
}

/** The object's template and its values: `{"a":%s,"b":%s}`, one `%s` per field. */
function template(fields: readonly (readonly [field: string, json: string])[]): [format: string, values: string] {
  return [`${fields.map(([field], i) => `${i === 0 ? '{' : ','}"${field}":%s`).join('')}}`, fields.map(([, json]) => json).join(', ')];
}

const SQL: Record<Dialect, JsonSql> = {
  sqlite: {
    // `json_quote` escapes as JSON requires (RFC 8259 section 7) and writes null for NULL.
    str: (expr) => `json_quote(${expr})`,
    bool: (expr) => `iif(${expr} = 1, 'true', 'false')`,
    when: (cond, then, otherwise) => `iif(${cond}, ${then}, ${otherwise})`,
    json: (expr) => `json(${expr})`,
    // One `printf` per object writes the row in one buffer (a chain of `||` copies the
    // growing text at each step, and took a third longer).
    object: (fields) => {
      const [format, values] = template(fields);
      return `printf('${format}', ${values})`;
    },
  },
  postgres: {
    // `to_json` of text escapes as JSON.stringify does (quote, backslash, control characters
    // as \b \f \n \r \t or \u00xx); it is NULL for NULL.
    str: (expr) => `coalesce(to_json(${expr})::text, 'null')`,
    bool: (expr) => `case when ${expr} = 1 then 'true' else 'false' end`,
    when: (cond, then, otherwise) => `case when ${cond} then ${then} else ${otherwise} end`,
    // The json type keeps the text as it was written (JSON.stringify's, without spaces).
    json: (expr) => `(${expr})::json::text`,
    object: (fields) => {
      const [format, values] = template(fields);
      return `format('${format}', ${values})`;
    },
  },
};

/**
 * The resource's fields in its schema's order (api/schemas.ts `ConversationFields`), each
 * with the SQL of its JSON, reading the row's columns through `col` (a qualified column
 * of a query, or `new.` in a trigger).
 */
function fields(col: (name: string) => string, { str, bool, when, json, object }: JsonSql): readonly (readonly [field: string, json: string])[] {
  // As conversationView: no latest_message unless latest_at is set (a non-empty string).
  const latest = when(`${col('latest_at')} is null or ${col('latest_at')} = ''`, `'null'`, object([
    ['text', str(`coalesce(${col('latest_text')}, '')`)],
    ['at', str(col('latest_at'))],
    ['direction', when(`${col('latest_direction')} = 'outbound'`, `'"outbound"'`, `'"inbound"'`)],
    ['has_media', bool(col('latest_has_media'))],
  ]));
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
    ['labels', json(col('labels'))],
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
// The names and columns are the same in every dialect's SQL: SQLite's is read for them, and none of it is run.
export const CONVERSATION_JSON_FIELDS: readonly string[] = fields(() => '', SQL.sqlite).map(([field]) => field);

/** The columns of `conversations` the JSON is made of (a write of any other leaves it as it is). */
const SOURCE_COLUMNS: readonly string[] = (() => {
  const names = new Set<string>();
  fields((name) => {
    names.add(name);
    return name;
  }, SQL.sqlite);
  return [...names];
})();

/** The expression over a `conversations` row of a query (list queries may hold subqueries of other tables). */
const queryExpression = (dialect: Dialect) => SQL[dialect].object(fields((name) => `conversations.${name}`, SQL[dialect]));
/** The expression over the row a trigger fires for. */
const triggerExpression = (dialect: Dialect) => SQL[dialect].object(fields((name) => `new.${name}`, SQL[dialect]));

/**
 * The select expression of a `conversations` row's API JSON, as text: one object with the
 * fields of {@link CONVERSATION_JSON_FIELDS}, equal (once parsed) to `conversationView` of
 * the row, worked out from the columns as `conversation_json` is filled; lists read the
 * kept copy ({@link storedConversationJson}), and the tests check it against this.
 */
export function conversationJson(dialect: Dialect): RawBuilder<string> {
  return sql<string>`${sql.raw(queryExpression(dialect))}`;
}

/**
 * The select expression of a `conversations` row's kept JSON (`conversation_json`), the
 * same text as {@link conversationJson}'s: every row has one (the triggers write it in
 * the transaction that writes the row).
 */
export function storedConversationJson(): RawBuilder<string> {
  return sql<string>`(select conversation_json.json from conversation_json where conversation_json.id = conversations.id)`;
}

/**
 * The SQLite table, as SQLite keeps its SQL (`sqlite_master.sql`). A rowid table, not
 * `WITHOUT ROWID`: a `WITHOUT ROWID` table is a b-tree of index pages, whose rows over
 * about 1,000 bytes (4 KiB pages) continue on overflow pages, and SQLite reads an overflow
 * page that is not in the WAL straight from the file into the value, past its page cache
 * (`SQLITE_DIRECT_OVERFLOW_READ`): one `pread` per such row on every read. On the
 * benchmark's store 25 of the first page's 51 rows overflowed, and the page's query made
 * 25 `pread` calls each time; a rowid table keeps rows up to about 4,000 bytes on its leaf
 * pages, and the same query makes none (docs/benchmarks.md, "Where the time goes").
 */
const SQLITE_TABLE = 'CREATE TABLE conversation_json (id TEXT PRIMARY KEY, json TEXT NOT NULL)';

const SQLITE_UPSERT = `INSERT INTO conversation_json (id, json) VALUES (new.id, ${triggerExpression('sqlite')})
    ON CONFLICT (id) DO UPDATE SET json = excluded.json`;

/** The SQLite triggers that keep `conversation_json`, by name: their SQL as SQLite keeps it (`sqlite_master.sql`). */
const SQLITE_TRIGGERS: ReadonlyMap<string, string> = new Map([
  ['conversation_json_insert', `CREATE TRIGGER conversation_json_insert AFTER INSERT ON conversations BEGIN
    ${SQLITE_UPSERT};
  END`],
  ['conversation_json_update', `CREATE TRIGGER conversation_json_update AFTER UPDATE OF ${SOURCE_COLUMNS.join(', ')} ON conversations BEGIN
    DELETE FROM conversation_json WHERE id = old.id AND old.id IS NOT new.id;
    ${SQLITE_UPSERT};
  END`],
  ['conversation_json_delete', `CREATE TRIGGER conversation_json_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversation_json WHERE id = old.id;
  END`],
]);

/**
 * The body of the PostgreSQL trigger function, as PostgreSQL keeps it (`pg_proc.prosrc`):
 * it names every column the JSON is made of, so a change of the fields changes it.
 */
const POSTGRES_FUNCTION_BODY = `
  begin
    if tg_op = 'DELETE' or (tg_op = 'UPDATE' and old.id is distinct from new.id) then
      delete from conversation_json where id = old.id;
    end if;
    if tg_op <> 'DELETE' then
      insert into conversation_json (id, json) values (new.id, ${triggerExpression('postgres')})
        on conflict (id) do update set json = excluded.json;
    end if;
    return null;
  end`;

/** The advisory lock key of {@link ensureConversationJson} (a constant no other code uses: "cjson"). */
const ADVISORY_LOCK = 0x636a736f6e;

/** Installs the SQLite table and triggers, filled from the conversations there are. */
async function installSqlite(tx: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'trigger' and name like 'conversation\\_json\\_%' escape '\\'`.execute(tx);
  for (const { name } of rows) await sql.raw(`DROP TRIGGER "${name}"`).execute(tx);
  await sql`drop table if exists conversation_json`.execute(tx);
  await sql.raw(SQLITE_TABLE).execute(tx);
  await sql.raw(`insert into conversation_json (id, json) select conversations.id, ${queryExpression('sqlite')} from conversations`).execute(tx);
  for (const statement of SQLITE_TRIGGERS.values()) await sql.raw(statement).execute(tx);
}

/**
 * Installs the PostgreSQL table, trigger function and trigger, filled from the
 * conversations there are. A row is rewritten whenever its conversation is (each write a
 * new row version): half of each page is left free, so that the new version can go on the
 * same page without a new index entry (a HOT update: the key never changes).
 */
async function installPostgres(tx: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists conversation_json_write on conversations`.execute(tx);
  await sql`drop table if exists conversation_json`.execute(tx);
  await sql`create table conversation_json (id text collate "C" primary key, json text not null) with (fillfactor = 50)`.execute(tx);
  await sql.raw(`insert into conversation_json (id, json) select conversations.id, ${queryExpression('postgres')} from conversations`).execute(tx);
  await sql.raw(`create or replace function conversation_json_write() returns trigger language plpgsql as $body$${POSTGRES_FUNCTION_BODY}$body$`).execute(tx);
  await sql.raw(`create trigger conversation_json_write after insert or delete or update of ${SOURCE_COLUMNS.join(', ')} on conversations
    for each row execute function conversation_json_write()`).execute(tx);
}

/** Whether the table and triggers are installed as this module writes them. */
async function installed(db: Kysely<any>, dialect: Dialect): Promise<boolean> {
  if (dialect === 'postgres') {
    const { rows } = await sql<{ table: string | null; body: string | null; trigger: boolean }>`select
      to_regclass('conversation_json')::text as table,
      (select prosrc from pg_proc where proname = 'conversation_json_write' and pronamespace = current_schema()::regnamespace) as body,
      exists (select 1 from pg_trigger where tgname = 'conversation_json_write' and tgrelid = to_regclass('conversations')) as trigger`.execute(db);
    const [r] = rows;
    return Boolean(r?.table && r.trigger && r.body === POSTGRES_FUNCTION_BODY);
  }
  const { rows } = await sql<{ type: string; name: string; sql: string }>`select type, name, sql from sqlite_master
    where (type = 'trigger' and tbl_name = 'conversations' and name like 'conversation\\_json\\_%' escape '\\') or (type = 'table' and name = 'conversation_json')`.execute(db);
  const triggers = rows.filter((r) => r.type === 'trigger');
  return rows.some((r) => r.type === 'table' && r.sql === SQLITE_TABLE) && triggers.length === SQLITE_TRIGGERS.size
    && triggers.every((r) => SQLITE_TRIGGERS.get(r.name) === r.sql);
}

/**
 * Installs `conversation_json` and what keeps it (SQLite triggers; a PL/pgSQL trigger
 * function on PostgreSQL), filled from the conversations there are, unless they are
 * installed already as this module writes them: on a store whose table or triggers
 * differ (an older layout or expression), or lack one, they are made again and every
 * row's JSON written anew, in one transaction. On PostgreSQL the transaction takes an
 * advisory lock first, so nodes starting together build them once.
 *
 * @returns whether it (re)built them.
 */
export async function ensureConversationJson(db: Kysely<any>, dialect: Dialect): Promise<boolean> {
  if (await installed(db, dialect)) return false;
  return db.transaction().execute(async (tx) => {
    if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${ADVISORY_LOCK})`.execute(tx);
    if (await installed(tx, dialect)) return false; // another process built them meanwhile
    await (dialect === 'postgres' ? installPostgres(tx) : installSqlite(tx));
    return true;
  });
}
