/**
 * The store: one interface over the embedded SQLite file and PostgreSQL.
 * Queries are written once with Kysely against {@link Database}; a dialect folder
 * supplies the connection, its migrations and the few statements that differ.
 */
import { PostgresIntrospector, type Kysely, type Transaction } from 'kysely';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { CommitNotifier } from './commits.js';
import type { QueryObserver } from './query-log.js';
import type { Database } from './schema.js';

/** What a rate limiter counts: `points` per `durationS` seconds, per key under `keyPrefix`. */
export interface RateLimiterOptions {
  readonly keyPrefix: string;
  readonly points: number;
  readonly durationS: number;
}

/** The two stores, by the name their dialect folder has. */
export type Dialect = 'sqlite' | 'postgres';

/** A handle for queries: the store itself or an open transaction. */
export type Db = Kysely<Database> | Transaction<Database>;

/** The dialect of the store `db` belongs to, for the few statements written per dialect. */
export function dialectOf(db: Db): Dialect {
  return db.introspection instanceof PostgresIntrospector ? 'postgres' : 'sqlite';
}

export interface Store {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /**
   * Runs `fn` in one transaction: everything it writes commits together (durably:
   * SQLite `synchronous=FULL`, PostgreSQL's default `synchronous_commit`) or not at all.
   * On PostgreSQL a deadlock or serialization failure runs `fn` again, so `fn` must
   * have no effects outside the transaction.
   */
  transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T>;
  /**
   * Told after each write command's commit which organizations it wrote for: by this
   * process directly, and on PostgreSQL by other nodes too (LISTEN/NOTIFY).
   */
  readonly commits: CommitNotifier;
  /**
   * Inside a write transaction: has other nodes told of its commit for `orgIds` once it
   * commits (PostgreSQL `pg_notify`; nothing to do on SQLite, which has one process).
   */
  announceCommit(tx: Transaction<Database>, orgIds: readonly string[]): Promise<void>;
  /**
   * Sends an ephemeral signal (typing) to the live subscribers of `orgId` on every node,
   * through `commits.onSignal`; nothing is stored, and a node not listening misses it.
   *
   * @param payload JSON text, at most {@link MAX_SIGNAL_BYTES} bytes.
   */
  broadcastSignal(orgId: string, payload: string): Promise<void>;
  /**
   * A rate limiter of `points` per `durationS` seconds for keys under `keyPrefix`
   * (rate-limiter-flexible): counted in this process's memory on SQLite (one process),
   * in the `rate_limits` table on PostgreSQL, so that every node shares the count.
   */
  rateLimiter(options: RateLimiterOptions): RateLimiterAbstract;
  /**
   * The organization's state version, as store/sequences.ts `orgVersion` reads it (0 for
   * one that never wrote): as of a moment after the call, so at least as new as every
   * commit that finished before it. Every authenticated request reads it (the key's
   * freshness and the read cache: services/authentication.ts, store/org-versions.ts), so
   * SQLite runs it as one statement prepared on its read connection, outside Kysely (and
   * outside the store query metrics): through Kysely it cost a cached list page about
   * 30% of its CPU (docs/benchmarks.md, "Where the time goes"). PostgreSQL reads it
   * through Kysely, whose reads run off the event loop.
   */
  orgVersion(orgId: string): Promise<number>;
  /** Applies pending schema migrations; @returns their names (none when up to date). */
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}

/** Largest signal payload (PostgreSQL NOTIFY allows under 8,000 bytes with the channel name). */
export const MAX_SIGNAL_BYTES = 4_000;

export interface OpenOptions {
  /** Apply pending migrations on open (default true; `switchboard migrate` opens without). */
  readonly migrate?: boolean;
  /** Told of every query's latency (Kysely's `log` option; store/query-log.ts): the store query metrics. */
  readonly onQuery?: QueryObserver;
  /**
   * SQLite: checkpoint the WAL from a worker thread rather than in the commit that fills it
   * (default true; store/sqlite/wal-checkpointer.ts). A bulk import, where no one waits on
   * one commit, turns it off and saves the thread's memory (about 9 MiB). PostgreSQL: ignored.
   */
  readonly backgroundCheckpoints?: boolean;
}
