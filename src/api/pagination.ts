/**
 * Opaque keyset cursors (SPEC section 5): the position of the last row of a page,
 * base64url-encoded JSON. Page N costs what page 1 costs.
 */
import { AppError } from '../errors.js';

export const DEFAULT_LIMIT = 50;

export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * Decodes a cursor and checks it has the expected fields and types.
 *
 * @throws AppError `validation_failed` (param `cursor`) for anything else.
 */
export function decodeCursor<K extends string>(cursor: string, fields: Record<K, 'string' | 'number'>): Record<K, any> {
  const bad = () => new AppError('validation_failed', 'The cursor is not valid.', {
    param: 'cursor', fix: 'Pass the next_cursor of the previous page unchanged, or omit cursor for the first page.',
  });
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (typeof value !== 'object' || value === null) throw bad();
  for (const [k, t] of Object.entries(fields)) {
    const v = (value as Record<string, unknown>)[k];
    if (typeof v !== t) throw bad();
    // Positions are non-negative integers and text without NUL: anything else was not
    // made here, and would fail in the database rather than here.
    if (typeof v === 'number' && !(Number.isSafeInteger(v) && v >= 0)) throw bad();
    if (typeof v === 'string' && v.includes('\u0000')) throw bad();
  }
  return value as Record<K, any>;
}

/**
 * Builds the list envelope from `limit + 1` fetched rows.
 *
 * @param resumable also give the last page a `next_cursor` (when it has rows): for
 *   timelines read oldest first, where a reader resumes later to get what was appended.
 */
export function page<R, V>(
  rows: readonly R[], limit: number, view: (r: R) => V, position: (r: R) => Record<string, string | number>,
  resumable = false,
) {
  const { shown, next_cursor, has_more } = envelope(rows, limit, position, resumable);
  return { data: shown.map(view), next_cursor, has_more };
}

/**
 * {@link page} as JSON text, for rows that hold their item's JSON already (a list the store
 * wrote in SQL, store/conversation-json.ts): the items are joined, not serialized again.
 *
 * @param json the JSON text of a row's item.
 * @returns `{"data":[…],"next_cursor":…,"has_more":…}`.
 */
export function jsonPage<R>(
  rows: readonly R[], limit: number, json: (r: R) => string, position: (r: R) => Record<string, string | number>,
): string {
  const { shown, next_cursor, has_more } = envelope(rows, limit, position, false);
  return `{"data":[${shown.map(json).join(',')}],"next_cursor":${JSON.stringify(next_cursor)},"has_more":${has_more}}`;
}

/** The rows shown of `limit + 1` fetched, the cursor after them, and whether more follow. */
function envelope<R>(rows: readonly R[], limit: number, position: (r: R) => Record<string, string | number>, resumable: boolean) {
  const has_more = rows.length > limit;
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { shown, next_cursor: (has_more || resumable) && last !== undefined ? encodeCursor(position(last)) : null, has_more };
}
