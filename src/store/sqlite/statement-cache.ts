/**
 * Prepared-statement reuse for Kysely's SQLite dialect. Kysely prepares every query it
 * runs; preparing costs as much as running a small statement, and the store runs the
 * same few dozen statements over and over (an import runs ~15 per message). This
 * wrapper hands Kysely the same better-sqlite3 statement for the same SQL text.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Statements kept; the least recently used is dropped beyond this. */
export const STATEMENT_CACHE_SIZE = 500;

/**
 * Wraps a connection so that `prepare(sql)` returns a cached statement.
 *
 * @param sqlite an open better-sqlite3 connection.
 * @param size most statements kept (least recently used dropped first).
 * @returns the `database` for Kysely's `SqliteDialect`.
 */
export function cachingDatabase(sqlite: BetterSqlite3.Database, size = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      sqlite.close();
    },
  };
}
