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
 * SQLite only. On PostgreSQL the same text (built with `to_json`) cut the Node.js CPU of an
 * uncached first page from 1.67 to 0.99 ms, but PostgreSQL's own went from 0.59 to 1.13 ms
 * (the query's execution from 0.23 to 0.97 ms): work moved from the nodes, which scale
 * out, to the database, which is shared, so PostgreSQL lists keep building rows in Node.js.
 */
import { sql, type RawBuilder } from 'kysely';

/** A column of the `conversations` row, qualified (list queries may hold subqueries of other tables). */
const col = (name: string) => `conversations.${name}`;
/** The JSON of a text column (a string or null). */
const str = (expr: string) => `json_quote(${expr})`;
/** The JSON of a 0/1 column (false/true). */
const bool = (name: string) => `iif(${col(name)} = 1, 'true', 'false')`;

/**
 * An object of the given fields, each a text expression of its JSON: one `printf` per
 * object, which writes the row in one buffer (a chain of `||` copies the growing text at
 * each step, and took a third longer).
 */
function object(fields: readonly (readonly [field: string, json: string])[]): string {
  const format = fields.map(([field], i) => `${i === 0 ? '{' : ','}"${field}":%s`).join('');
  return `printf('${format}}', ${fields.map(([, json]) => json).join(', ')})`;
}

// As conversationView: no latest_message unless latest_at is set (a non-empty string).
const LATEST = `iif(${col('latest_at')} is null or ${col('latest_at')} = '', 'null', ${object([
  ['text', str(`coalesce(${col('latest_text')}, '')`)],
  ['at', str(col('latest_at'))],
  ['direction', `iif(${col('latest_direction')} = 'outbound', '"outbound"', '"inbound"')`],
  ['has_media', bool('latest_has_media')],
])})`;

/** The resource's fields in its schema's order (api/schemas.ts `ConversationFields`), each with the SQL of its JSON. */
const FIELDS: readonly (readonly [field: string, json: string])[] = [
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
  ['latest_message', LATEST],
  ['last_event_at', str(col('last_event_at'))],
  ['labels', `json(${col('labels')})`], // JSON text already; json() refuses a malformed one rather than send it
  ['archived', bool('archived')],
  ['no_reply_at', str(col('no_reply_at'))],
  ['last_no_reply_at', str(col('last_no_reply_at'))],
  ['sla_due_at', str(col('sla_due_at'))],
  ['overdue', bool('overdue')],
  ['starred', bool('starred')],
  ['assigned_to', str(col('assigned_to'))],
  ['is_blocked', bool('is_blocked')],
  ['connection_status', str(col('connection_status'))],
  ['connection_id', str(col('connection_id'))],
];

/** The API fields the expression writes, in order. */
export const CONVERSATION_JSON_FIELDS: readonly string[] = FIELDS.map(([field]) => field);

const EXPRESSION = object(FIELDS);

/**
 * The select expression (SQLite) of a `conversations` row's API JSON, as text: one object
 * with the fields of {@link CONVERSATION_JSON_FIELDS}, equal (once parsed) to
 * `conversationView` of the row.
 */
export function conversationJson(): RawBuilder<string> {
  return sql<string>`${sql.raw(EXPRESSION)}`;
}
