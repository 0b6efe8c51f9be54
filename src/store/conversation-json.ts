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

/** How a column becomes a JSON value. */
type Kind =
  /** a string or null */
  | 'string'
  /** an integer */
  | 'integer'
  /** 0/1 as false/true */
  | 'boolean'
  /** JSON text kept in the column (a label array written by JSON.stringify) */
  | 'json';

/** The resource's fields in its schema's order (api/schemas.ts `ConversationFields`), and the column of each. */
const FIELDS: readonly (readonly [field: string, column: string, kind: Kind])[] = [
  ['id', 'id', 'string'],
  ['identity_id', 'identity_id', 'string'],
  ['account_id', 'account_id', 'string'],
  ['channel', 'channel', 'string'],
  ['subject', 'subject', 'string'],
  ['counterpart', 'counterpart', 'string'],
  ['contact_id', 'contact_id', 'string'],
  ['created_at', 'created_at', 'string'],
  ['message_count', 'message_count', 'integer'],
  ['unread_count', 'unread_count', 'integer'],
  ['latest_message', '', 'json'], // made below from the latest_* columns (LATEST)
  ['last_event_at', 'last_event_at', 'string'],
  ['labels', 'labels', 'json'],
  ['archived', 'archived', 'boolean'],
  ['no_reply_at', 'no_reply_at', 'string'],
  ['last_no_reply_at', 'last_no_reply_at', 'string'],
  ['sla_due_at', 'sla_due_at', 'string'],
  ['overdue', 'overdue', 'boolean'],
  ['starred', 'starred', 'boolean'],
  ['assigned_to', 'assigned_to', 'string'],
  ['is_blocked', 'is_blocked', 'boolean'],
  ['connection_status', 'connection_status', 'string'],
  ['connection_id', 'connection_id', 'string'],
];

/** The API fields the expression writes, in order. */
export const CONVERSATION_JSON_FIELDS: readonly string[] = FIELDS.map(([field]) => field);

/** A text expression: the JSON of one value of `column` (an SQL expression). */
function value(column: string, kind: Kind): string {
  switch (kind) {
    case 'string':
      return `json_quote(${column})`;
    case 'integer':
      return column;
    case 'boolean':
      return `iif(${column} = 1, 'true', 'false')`;
    case 'json':
      return column;
  }
}

/** A column of the `conversations` row, qualified (list queries may hold subqueries of other tables). */
const col = (name: string) => `conversations.${name}`;

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
  ['text', value(`coalesce(${col('latest_text')}, '')`, 'string')],
  ['at', value(col('latest_at'), 'string')],
  ['direction', `iif(${col('latest_direction')} = 'outbound', '"outbound"', '"inbound"')`],
  ['has_media', value(col('latest_has_media'), 'boolean')],
])})`;

const EXPRESSION = object(FIELDS.map(([field, column, kind]) => [field, field === 'latest_message' ? LATEST : value(col(column), kind)]));

/**
 * The select expression (SQLite) of a `conversations` row's API JSON, as text: one object
 * with the fields of {@link CONVERSATION_JSON_FIELDS}, equal (once parsed) to
 * `conversationView` of the row.
 */
export function conversationJson(): RawBuilder<string> {
  return sql<string>`${sql.raw(EXPRESSION)}`;
}
