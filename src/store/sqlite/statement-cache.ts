/**
 * Prepared-statement reuse for Kysely's SQLite dialect. Kysely prepares every query it
 * runs; preparing costs as much as running a small statement, and the store runs the
 * same few dozen statements over and over (an import runs ~15 per message). This
 * wrapper hands Kysely the same better-sqlite3 statement for the same SQL text.
 *
 * Rows of a statement that returns data are read as arrays (better-sqlite3's raw mode)
 * and made into objects by a function compiled once per statement from its column
 * names: better-sqlite3 builds each row object property by property, which for a page of
 * 51 conversations of 32 columns cost 0.98 ms against 0.53 ms for the arrays
 * (docs/benchmarks.md, "Where the time goes"). The objects are the same: one property
 * per column, in column order, the last of two same-named columns winning. A statement
 * whose columns change under it (a migration altered its table: SQLite prepares it
 * again, better-sqlite3 keeps the handle) has its builder made again when a row's length
 * no longer matches, and the store empties the cache after migrating
 * (store/sqlite/sqlite-store.ts), so no statement prepared before a migration outlives it.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Statements kept; the least recently used is dropped beyond this. */
export const STATEMENT_CACHE_SIZE = 500;

/** A connection for Kysely's `SqliteDialect` whose statements are cached. */
export interface CachingDatabase extends SqliteDatabase {
  /** Drops every cached statement (after a schema change). */
  clear(): void;
}

/**
 * Wraps a connection so that `prepare(sql)` returns a cached statement.
 *
 * @param sqlite an open better-sqlite3 connection.
 * @param size most statements kept (least recently used dropped first).
 * @returns the `database` for Kysely's `SqliteDialect`.
 */
export function cachingDatabase(sqlite: BetterSqlite3.Database, size = STATEMENT_CACHE_SIZE): CachingDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    clear() {
      cache.clear();
    },
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = withRowBuilder(sqlite.prepare(sql));
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

/**
 * `stmt` reading its rows as arrays, made into objects by a row builder compiled from its
 * column names; `stmt` itself when it returns no data.
 */
function withRowBuilder(stmt: BetterSqlite3.Statement): BetterSqlite3.Statement {
  if (!stmt.reader) return stmt;
  let build = rowBuilder(stmt);
  const raw = stmt.raw(true);
  const object = (row: unknown[]): unknown => {
    if (row.length !== build.width) build = rowBuilder(stmt); // the statement's columns changed
    return build(row);
  };
  // What Kysely's drivers use of a statement: `reader`, `readonly`, `all`, `iterate`, `run`.
  return {
    reader: true,
    readonly: stmt.readonly,
    source: stmt.source,
    all: (...params: unknown[]) => (raw.all(...params) as unknown[][]).map(object),
    *iterate(...params: unknown[]) {
      for (const row of raw.iterate(...params) as IterableIterator<unknown[]>) yield object(row);
    },
    run: (...params: unknown[]) => raw.run(...params),
  } as unknown as BetterSqlite3.Statement;
}

/** The function making a row array of `stmt` into an object, and the row length it expects. */
function rowBuilder(stmt: BetterSqlite3.Statement): ((row: unknown[]) => unknown) & { width: number } {
  const names = stmt.columns().map((c) => c.name);
  // Keys are JSON string literals, so any column name is safe in the source. (A
  // `"__proto__": v` key sets the prototype, as better-sqlite3's own row objects do.)
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const build = new Function('r', `return { ${names.map((n, i) => `${JSON.stringify(n)}: r[${i}]`).join(', ')} };`) as (row: unknown[]) => unknown;
  return Object.assign(build, { width: names.length });
}
