/**
 * Kysely's SQLite dialect with two connections to the file: reads outside a transaction
 * go to a read-only connection and never wait, while transactions and the writes made
 * outside one take turns on the write connection.
 *
 * Kysely's own SQLite driver has one connection behind a mutex, so every query waits for
 * the transaction in flight: with group commit (store/group-commit.ts) a list request
 * arriving while a batch of mail is stored waited for the whole batch. In WAL mode a
 * second connection reads the last committed state without waiting for the writer
 * (sqlite.org/wal.html, "Concurrency"), which is what a PostgreSQL pool gives reads too:
 * a read outside a transaction sees every transaction committed before it started, never
 * one in progress.
 *
 * Which statements read is SQLite's own answer (`sqlite3_stmt_readonly`, better-sqlite3's
 * `Statement.readonly`); the read connection is also `query_only`, so a write sent to it
 * by mistake fails instead of taking the write lock behind the writer's back.
 */
import type BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryCompiler, type QueryResult, type SqliteDatabase,
} from 'kysely';

/** A FIFO lock: the write connection's turn. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** @returns a function that releases the lock, once it is held. */
  async lock(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => { release = resolve; });
    await previous;
    return release;
  }
}

function run(db: SqliteDatabase, { sql, parameters }: CompiledQuery, stmt: { reader: boolean; all(p: readonly unknown[]): unknown[]; run(p: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint } } = db.prepare(sql) as never): QueryResult<unknown> {
  if (stmt.reader) return { rows: stmt.all(parameters as unknown[]) };
  const { changes, lastInsertRowid } = stmt.run(parameters as unknown[]);
  return {
    numAffectedRows: changes === undefined || changes === null ? undefined : BigInt(changes),
    insertId: lastInsertRowid === undefined || lastInsertRowid === null ? undefined : BigInt(lastInsertRowid),
    rows: [],
  };
}

/** The statement prepared on the read connection, or null when it cannot be (the writer reports why). */
function readerStatement(reader: SqliteDatabase, sql: string): BetterSqlite3.Statement | null {
  try {
    return reader.prepare(sql) as unknown as BetterSqlite3.Statement;
  } catch {
    return null;
  }
}

/** A connection handed to Kysely: unbound (routes each statement) or holding the writer for a transaction. */
class RoutingConnection implements DatabaseConnection {
  readonly #driver: ReadWriteSqliteDriver;
  /** Releases the write lock: set while this connection runs a transaction. */
  release: (() => void) | null = null;

  constructor(driver: ReadWriteSqliteDriver) {
    this.#driver = driver;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { reader, writer } = this.#driver.databases;
    if (this.release) return run(writer, query) as QueryResult<R>;
    const stmt = readerStatement(reader, query.sql);
    if (stmt?.readonly) return run(reader, query, stmt) as QueryResult<R>;
    // A write outside a transaction: its turn on the writer, between transactions.
    const release = await this.#driver.writeLock.lock();
    try {
      return run(writer, query) as QueryResult<R>;
    } finally {
      release();
    }
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the SQLite store does not stream query results');
  }
}

class ReadWriteSqliteDriver implements Driver {
  readonly databases: { readonly reader: SqliteDatabase; readonly writer: SqliteDatabase };
  readonly writeLock = new Mutex();

  constructor(databases: { readonly reader: SqliteDatabase; readonly writer: SqliteDatabase }) {
    this.databases = databases;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new RoutingConnection(this);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as RoutingConnection;
    c.release = await this.writeLock.lock();
    try {
      await c.executeQuery(CompiledQuery.raw('begin'));
    } catch (err) {
      c.release();
      c.release = null;
      throw err;
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string, _compile: QueryCompiler['compileQuery']): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint "${name}"`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string, _compile: QueryCompiler['compileQuery']): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to "${name}"`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, _compile: QueryCompiler['compileQuery']): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release "${name}"`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as RoutingConnection;
    c.release?.();
    c.release = null;
  }

  async destroy(): Promise<void> {
    this.databases.reader.close();
    this.databases.writer.close();
  }
}

/**
 * The dialect over a read connection and a write connection to one SQLite file in WAL
 * mode (`reader` opened `query_only`). Destroying the Kysely instance closes both.
 */
export function readWriteSqliteDialect(databases: { readonly reader: SqliteDatabase; readonly writer: SqliteDatabase }): Dialect {
  return {
    createDriver: () => new ReadWriteSqliteDriver(databases),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createAdapter: () => new SqliteAdapter(),
    createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
  };
}
