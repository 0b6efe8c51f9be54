/**
 * The embedded store's WAL checkpoints run in a worker thread (store/sqlite/wal-checkpointer.ts):
 * what a commit appends to the WAL is copied into the database file without the committing
 * connection checkpointing, so the next transaction starts the WAL over; closing the store
 * closes the worker's connection first, so the store's own close removes the WAL.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL_MS } from '../../src/store/sqlite/wal-checkpointer.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir, TEST_STORE } from '../helpers.js';

/** Frames in the WAL (`log`) and frames copied to the database (`checkpointed`), read by a passive checkpoint of a connection of its own. */
function walFrames(filename: string): { log: number; checkpointed: number } {
  const probe = new BetterSqlite3(filename);
  try {
    return (probe.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number; checkpointed: number }>)[0]!;
  } finally {
    probe.close();
  }
}

describe.skipIf(TEST_STORE !== 'sqlite')('WAL checkpoints of the embedded store', () => {
  let store: Store | null = null;
  afterEach(async () => { await store?.close(); store = null; });

  /** Frames in the WAL after some 430 pages are committed, the worker has had its turns, and one small write follows. */
  async function walAfterWrites(options: { backgroundCheckpoints?: boolean } = {}): Promise<number> {
    const filename = path.join(tempDir(), 'switchboard.db');
    store = await openSqliteStore({ filename }, options);
    await sql`create table probe (id integer primary key, body blob)`.execute(store.db);
    // About 430 pages of 4 KiB: under SQLite's own threshold (wal_autocheckpoint, 1,000),
    // so the committing connection does not checkpoint them itself.
    await store.transaction(async (tx) => {
      for (let i = 0; i < 100; i++) await sql`insert into probe (body) values (randomblob(8000))`.execute(tx);
    });
    // The worker has had many turns; the probe below must not be the one that copies.
    await new Promise((r) => setTimeout(r, 8 * CHECKPOINT_INTERVAL_MS));
    await sql`insert into probe (body) values (x'00')`.execute(store.db);
    expect((await sql<{ n: number }>`select count(*) as n from probe`.execute(store.db)).rows[0]!.n).toBe(101);
    return walFrames(filename).log;
  }

  it('copies committed pages to the database file off the committing connection, so the WAL starts over', async () => {
    const log = await walAfterWrites();
    // Restarted: only the last small transaction's pages are in the WAL, not the 430 before it.
    expect(log).toBeGreaterThan(0);
    expect(log).toBeLessThan(20);
  });

  it('leaves the checkpoints to the writer when asked to (a bulk import)', async () => {
    expect(await walAfterWrites({ backgroundCheckpoints: false })).toBeGreaterThan(300);
  });

  it('closes its connection before the store closes, so the store removes the WAL file', async () => {
    const filename = path.join(tempDir(), 'switchboard.db');
    store = await openSqliteStore({ filename });
    await sql`create table probe (id integer primary key)`.execute(store.db);
    await sql`insert into probe default values`.execute(store.db);
    await new Promise((r) => setTimeout(r, 2 * CHECKPOINT_INTERVAL_MS));
    expect(fs.existsSync(`${filename}-wal`)).toBe(true);
    await store.close();
    store = null;
    // Only the last connection to close checkpoints and deletes the WAL (sqlite.org/wal.html).
    expect(fs.existsSync(`${filename}-wal`)).toBe(false);
    // Everything is in the database file: a store opened on it again reads it.
    store = await openSqliteStore({ filename });
    expect((await sql<{ n: number }>`select count(*) as n from probe`.execute(store.db)).rows[0]!.n).toBe(1);
  });
});
