/**
 * The embedded store: SQLite through better-sqlite3, in WAL mode.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Transaction } from 'kysely';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { CommitNotifier } from '../commits.js';
import { ensureConversationJson } from '../conversation-json.js';
import type { Database } from '../schema.js';
import type { OpenOptions, Store } from '../store.js';
import { migrateOnOpen, migrateToLatest, SQLITE_TYPES } from '../migrations.js';
import { readWriteSqliteDialect } from './read-write-driver.js';
import { cachingDatabase } from './statement-cache.js';
import { checkpointInBackground } from './wal-checkpointer.js';
import { queryLog } from '../query-log.js';
import { orgVersion } from '../sequences.js';

export interface SqliteStoreConfig {
  /** Database file, or `:memory:`. */
  readonly filename: string;
}

/** The database file inside a data directory. */
export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'switchboard.db');
}

/** A read-only connection to the store's file, for reads outside transactions (WAL mode lets it read while the writer writes). */
function openReader(filename: string): BetterSqlite3.Database {
  const reader = new BetterSqlite3(filename);
  reader.pragma('query_only = ON');
  reader.pragma('busy_timeout = 10000');
  return reader;
}

/**
 * Opens (creating if needed) the SQLite store and brings its schema up to date.
 *
 * @throws Error when the file cannot be opened or a migration fails.
 */
export async function openSqliteStore(config: SqliteStoreConfig, options: OpenOptions = {}): Promise<Store> {
  if (config.filename !== ':memory:') fs.mkdirSync(path.dirname(config.filename), { recursive: true });
  const sqlite = new BetterSqlite3(config.filename);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 10000');
  // Reads outside transactions get a connection of their own (read-write-driver.ts); an
  // in-memory database exists once per connection, so it keeps Kysely's single one.
  const writer = cachingDatabase(sqlite);
  const readerConnection = config.filename === ':memory:' ? null : openReader(config.filename);
  const reader = readerConnection && cachingDatabase(readerConnection);
  // The organization's version (Store.orgVersion): sequences.ts `orgVersion`'s query,
  // prepared on first use (after the migrations that make its table) and after each migration.
  let versionStatement: BetterSqlite3.Statement<[string], number> | undefined;
  const dialect = reader ? readWriteSqliteDialect({ reader, writer }) : new SqliteDialect({ database: writer });
  const db = new Kysely<Database>({ dialect, log: queryLog(options.onQuery) });
  const commits = new CommitNotifier();
  // WAL checkpoints run in a worker thread, not in the commit that fills the WAL (wal-checkpointer.ts).
  const stopCheckpoints = reader && options.backgroundCheckpoints !== false ? checkpointInBackground(config.filename) : async () => {};
  return migrateOnOpen({
    dialect: 'sqlite',
    db,
    commits,
    announceCommit: async () => {},
    broadcastSignal: async (orgId, payload) => commits.signal(orgId, payload),
    orgVersion: async (orgId) => {
      if (!readerConnection) return orgVersion(db, orgId);
      versionStatement ??= readerConnection.prepare<[string], number>('select version from org_sequences where org_id = ?').pluck();
      return Number(versionStatement.get(orgId) ?? 0);
    },
    transaction: <T>(fn: (tx: Transaction<Database>) => Promise<T>) => db.transaction().execute(fn),
    migrate: async () => {
      const applied = await migrateToLatest(db, SQLITE_TYPES);
      // The list rows' kept JSON: installed, or built again after its fields changed.
      await ensureConversationJson(db, 'sqlite');
      // No statement prepared before a schema change is used after it (statement-cache.ts).
      writer.clear();
      reader?.clear();
      versionStatement = undefined;
      return applied;
    },
    // One process holds the store: its memory is every node's count.
    rateLimiter: ({ keyPrefix, points, durationS }) => new RateLimiterMemory({ keyPrefix, points, duration: durationS }),
    close: async () => {
      await stopCheckpoints();
      await db.destroy();
    },
  }, options);
}
