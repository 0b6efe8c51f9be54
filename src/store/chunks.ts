/**
 * Multi-row statements in slices: a statement's parameters are bounded (SQLite's
 * `SQLITE_MAX_VARIABLE_NUMBER`, 32,766; PostgreSQL's wire protocol, 65,535), so rows go
 * in slices well below either.
 */

/** Rows per multi-row statement. */
export const ROWS_PER_STATEMENT = 200;

/** `items` in slices of `size` (default {@link ROWS_PER_STATEMENT}), in order. */
export function chunks<T>(items: readonly T[], size = ROWS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
