/**
 * Prepared statements on PostgreSQL (store/postgres/prepared-statements.ts): a connection
 * prepares a parameterized text on its second run, keeps at most its capacity of them
 * (deallocating the least recently used on the server), answers exactly as an unnamed run
 * would, survives a failing run, and prepares again after a schema change invalidated a
 * plan. Read back from the server's own `pg_prepared_statements` of the connection; and
 * `DATABASE_PREPARED_STATEMENTS` turns it off.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { isStalePlan, MAX_PREPARED_TEXT, preparingClient } from '../../src/store/postgres/prepared-statements.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { freshDatabase, TEST_STORE } from '../helpers.js';

const SKIP = TEST_STORE !== 'postgres';
if (SKIP) console.warn('test/postgres: runs in the postgres project only (set TEST_DATABASE_URL); skipping');

describe.skipIf(SKIP)('prepared statements', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => { database = await freshDatabase(); });
  afterAll(async () => { await database?.drop(); });

  /**
   * One connection of a pool, taken and given back as Kysely does (`connect`, `release`
   * without an error), so every query of a test runs in the same session; `done` also
   * checks that it did (a failed query must not have cost the connection).
   */
  const session = async (capacity?: number) => {
    const pool = new pg.Pool({ connectionString: database.url!, max: 1, Client: preparingClient(capacity) });
    const client = await pool.connect();
    const pid = async () => (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    const first = await pid();
    return {
      query: (text: string, values?: unknown[]) => client.query(text, values),
      async done() {
        expect(await pid()).toBe(first);
        client.release();
        await pool.end();
      },
    };
  };
  /** The texts the session has prepared, sorted (a query without parameters: never prepared itself). */
  const prepared = async (client: { query(text: string): Promise<pg.QueryResult> }) => (await client.query('select statement from pg_prepared_statements')).rows
    .map((r: { statement: string }) => r.statement).sort();

  it('prepares a parameterized text on its second run, never one without parameters or a very long one', async () => {
    const db = await session();
    try {
      const text = 'select $1::int + 1 as x';
      expect((await db.query(text, [1])).rows).toEqual([{ x: 2 }]);
      expect(await prepared(db)).toEqual([]);
      expect((await db.query(text, [2])).rows).toEqual([{ x: 3 }]);
      expect((await db.query(text, [41])).rows).toEqual([{ x: 42 }]);
      for (let i = 0; i < 3; i++) await db.query('select 1 as one', []);
      // A text past MAX_PREPARED_TEXT (a multi-row statement) stays unnamed however often it runs.
      const long = `select $1::int as y${' '.repeat(MAX_PREPARED_TEXT)}`;
      for (let i = 0; i < 3; i++) expect((await db.query(long, [i])).rows).toEqual([{ y: i }]);
      expect(await prepared(db)).toEqual([text]);
    } finally {
      await db.done();
    }
  });

  it('keeps at most its capacity per connection, deallocating the least recently used', async () => {
    const db = await session(3);
    const text = (c: string) => `select $1::text as "${c}"`;
    const twice = async (c: string) => {
      for (const v of ['a', 'b']) expect((await db.query(text(c), [v])).rows).toEqual([{ [c]: v }]);
    };
    try {
      for (const c of ['A', 'B', 'C', 'D']) await twice(c);
      expect(await prepared(db)).toEqual(['B', 'C', 'D'].map(text));
      await db.query(text('B'), ['touch']); // B is now the most recently used; C the least
      await twice('E');
      expect(await prepared(db)).toEqual(['B', 'D', 'E'].map(text));
      await twice('A'); // evicted earlier: prepared again under a new name
      expect(await prepared(db)).toEqual(['A', 'B', 'E'].map(text));
    } finally {
      await db.done();
    }
  });

  it('answers as an unnamed statement would, whatever the values (property)', async () => {
    const db = await session();
    const plain = new pg.Client({ connectionString: database.url! });
    await plain.connect();
    const text = 'select $1::text as s, $2::bigint::text as n, $3::text is null as missing';
    try {
      await fc.assert(fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replaceAll('\u0000', '')),
        fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
        fc.option(fc.string({ maxLength: 5 }).map((s) => s.replaceAll('\u0000', ''))),
        async (s, n, m) => {
          const values = [s, n.toString(), m];
          expect((await db.query(text, values)).rows).toEqual((await plain.query(text, values)).rows);
        },
      ), { numRuns: 60 });
      expect(await prepared(db)).toEqual([text]);
    } finally {
      await db.done();
      await plain.end();
    }
  });

  it('a failing run leaves the statement usable', async () => {
    const db = await session();
    const text = 'select 10 / $1::int as x';
    try {
      expect((await db.query(text, [5])).rows).toEqual([{ x: 2 }]);
      expect((await db.query(text, [2])).rows).toEqual([{ x: 5 }]);
      await expect(db.query(text, [0])).rejects.toMatchObject({ code: '22012' }); // division_by_zero
      expect((await db.query(text, [1])).rows).toEqual([{ x: 10 }]);
      expect(await prepared(db)).toEqual([text]);
    } finally {
      await db.done();
    }
  });

  it('prepares again after a schema change made its cached plan fail', async () => {
    const db = await session();
    const text = 'select * from plan_change where a = $1';
    try {
      await db.query('create table plan_change (a int)');
      await db.query('insert into plan_change values (1)');
      for (let i = 0; i < 2; i++) expect((await db.query(text, [1])).rows).toEqual([{ a: 1 }]);
      await db.query('alter table plan_change add column b int');
      // PostgreSQL refuses the old plan once (its result columns changed) ...
      await expect(db.query(text, [1])).rejects.toMatchObject({ code: '0A000' });
      // ... and the statement is prepared again, with the new columns.
      expect((await db.query(text, [1])).rows).toEqual([{ a: 1, b: null }]);
      expect((await db.query(text, [1])).rows).toEqual([{ a: 1, b: null }]);
      expect(await prepared(db)).toEqual([text]);
    } finally {
      await db.done();
    }
  });

  it('a store transaction whose prepared plan a migration invalidated runs again and succeeds', async () => {
    const store = await openPostgresStore({ url: database.url!, poolSize: 1 });
    try {
      await sql`create table plan_change_tx (a int)`.execute(store.db);
      await sql`insert into plan_change_tx values (1)`.execute(store.db);
      const read = () => store.transaction((tx) => sql`select * from plan_change_tx where a = ${1}`.execute(tx).then((r) => r.rows));
      expect(await read()).toEqual([{ a: 1 }]);
      expect(await read()).toEqual([{ a: 1 }]); // prepared now
      await sql`alter table plan_change_tx add column b int`.execute(store.db);
      expect(await read()).toEqual([{ a: 1, b: null }]);
    } finally {
      await store.close();
    }
  });

  it('the store prepares repeated queries by default and not with preparedStatements: false', async () => {
    for (const preparedStatements of [true, false]) {
      const store = await openPostgresStore({ url: database.url!, preparedStatements });
      try {
        const names = await store.db.transaction().execute(async (tx) => {
          for (let i = 0; i < 3; i++) await tx.selectFrom('organizations').select('id').where('id', '=', `org_${i}`).execute();
          return (await sql<{ name: string }>`select name from pg_prepared_statements`.execute(tx)).rows;
        });
        expect(names.length > 0).toBe(preparedStatements);
      } finally {
        await store.close();
      }
    }
  });
});

describe('DATABASE_PREPARED_STATEMENTS', () => {
  it('is on unless set to false', () => {
    expect(loadConfig({}, {}).databasePreparedStatements).toBe(true);
    expect(loadConfig({}, { DATABASE_PREPARED_STATEMENTS: 'false' }).databasePreparedStatements).toBe(false);
    expect(loadConfig({}, { DATABASE_PREPARED_STATEMENTS: 'true' }).databasePreparedStatements).toBe(true);
    expect(() => loadConfig({}, { DATABASE_PREPARED_STATEMENTS: 'sometimes' })).toThrow(/DATABASE_PREPARED_STATEMENTS|databasePreparedStatements/);
  });
});

describe('isStalePlan', () => {
  it('is a stale cached plan only, not any unsupported feature (both SQLSTATE 0A000)', () => {
    expect(isStalePlan({ code: '0A000', message: 'cached plan must not change result type' })).toBe(true);
    expect(isStalePlan({ code: '0A000', message: 'cannot use subquery in check constraint' })).toBe(false);
    expect(isStalePlan({ code: '40001', message: 'cached plan must not change result type' })).toBe(false);
    expect(isStalePlan(null)).toBe(false);
  });
});
