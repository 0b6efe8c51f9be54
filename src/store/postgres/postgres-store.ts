/**
 * The PostgreSQL store: Kysely over a `pg` connection pool, for deployments with several
 * stateless Switchboard nodes on one database (SPEC section 8).
 */
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { ensureConversationJson } from '../conversation-json.js';
import { migrateOnOpen, migrateToLatest, POSTGRES_TYPES } from '../migrations.js';
import { CommitNotifier } from '../commits.js';
import { COMMITS_CHANNEL, listenForCommits, type CommitListener, SIGNALS_CHANNEL } from './notifications.js';
import type { Database } from '../schema.js';
import type { OpenOptions, Store } from '../store.js';
import { queryLog } from '../query-log.js';
import { orgVersion } from '../sequences.js';
import { isStalePlan, preparingClient } from './prepared-statements.js';

export interface PostgresStoreConfig {
  /** `postgres://user:password@host:port/database` (libpq connection URI). */
  readonly url: string;
  /** Most pooled connections of this process. */
  readonly poolSize?: number;
  /** Prepare the statements a connection runs repeatedly (prepared-statements.ts); default true. */
  readonly preparedStatements?: boolean;
}

/** Connections per process by default: enough for concurrent requests, few enough for many nodes. */
export const DEFAULT_POOL_SIZE = 10;

/** SQLSTATEs after which a transaction is safe to run again: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/** Whether a failed transaction may run again: a serialization failure, a deadlock, or a stale prepared plan. */
function retryable(err: unknown): boolean {
  return RETRYABLE.has((err as { code?: string }).code ?? '') || isStalePlan(err);
}

/** 64-bit integers (`count(*)`, sequence numbers) as JS numbers: exact below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Connects and brings the schema up to date (Kysely's Migrator takes a lock, so nodes
 * starting together migrate once).
 *
 * @throws Error when the database cannot be reached or a migration fails.
 */
export async function openPostgresStore(config: PostgresStoreConfig, options: OpenOptions = {}): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    types,
    ...(config.preparedStatements === false ? {} : { Client: preparingClient() }),
  });
  // An idle pooled connection that breaks (server restart, network) is dropped from the
  // pool and replaced on next use; without a listener its error would end the process.
  pool.on('error', (err) => process.emitWarning(`PostgreSQL idle connection lost: ${err.message}`));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: queryLog(options.onQuery) });
  let listener: CommitListener | undefined;
  const commits = new CommitNotifier(() => { listener = listenForCommits(config.url, commits); });
  return migrateOnOpen({
    dialect: 'postgres',
    db,
    commits,
    async announceCommit(tx, orgIds) {
      for (const id of orgIds) await sql`select pg_notify(${COMMITS_CHANNEL}, ${id})`.execute(tx);
    },
    orgVersion: (orgId) => orgVersion(db, orgId),
    async broadcastSignal(orgId, payload) {
      // Every listening node hears it, this one too (through its own LISTEN session).
      await sql`select pg_notify(${SIGNALS_CHANNEL}, ${`${orgId} ${payload}`})`.execute(db);
    },
    async transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn);
        } catch (err) {
          if (attempt >= MAX_ATTEMPTS || !retryable(err)) throw err;
        }
      }
    },
    migrate: async () => {
      const applied = await migrateToLatest(db, POSTGRES_TYPES);
      // The list rows' kept JSON: installed, or built again after its fields changed.
      await ensureConversationJson(db, 'postgres');
      return applied;
    },
    // The table is made by migration 0011; expired rows are deleted every 5 minutes.
    rateLimiter: ({ keyPrefix, points, durationS }) => new RateLimiterPostgres({
      storeClient: pool, storeType: 'pool', tableName: 'rate_limits', tableCreated: true, clearExpiredByTimeout: true,
      keyPrefix, points, duration: durationS,
    }),
    async close() {
      await listener?.close();
      await db.destroy();
    },
  }, options);
}
