/**
 * The embedded store's WAL checkpoints run in a worker thread (store/sqlite/wal-checkpointer.ts):
 * what a commit appends to the WAL is copied into the database file without the committing
 * connection checkpointing, so the next transaction starts the WAL over; closing the store
 * closes the worker's connection first, so the store's own close removes the WAL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL_MS } from '../../src/store/sqlite/wal-checkpointer.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir, TEST_STORE } from '../helpers.js';

/** Frames in the WAL (`log`), read by a passive checkpoint of a connection of its own (which also copies them). */
function walFrames(filename: string): number {
  const probe = new BetterSqlite3(filename);
  try {
    return (probe.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]!.log;
  } finally {
    probe.close();
  }
}

/**
 * The WAL's last frame and how many of its frames are copied into the database file, read
 * from the wal-index header in `-shm` without touching a lock (sqlite.org/walformat.html,
 * 2.1: `mxFrame` at byte 16, `nBackfill` at byte 96, native byte order).
 */
function walIndex(filename: string): { mxFrame: number; nBackfill: number } {
  const header = Buffer.alloc(100);
  const fd = fs.openSync(`${filename}-shm`, 'r');
  try {
    fs.readSync(fd, header, 0, 100, 0);
  } finally {
    fs.closeSync(fd);
  }
  const u32 = (at: number) => (os.endianness() === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));
  return { mxFrame: u32(16), nBackfill: u32(96) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(TEST_STORE !== 'sqlite')('WAL checkpoints of the embedded store', () => {
  let store: Store | null = null;
  afterEach(async () => { await store?.close(); store = null; });

  /** A store with some 430 pages just committed: under SQLite's own threshold (wal_autocheckpoint, 1,000), so the committing connection does not copy them itself. */
  async function afterWrites(options: { backgroundCheckpoints?: boolean } = {}): Promise<{ filename: string; db: Store['db'] }> {
    const filename = path.join(tempDir(), 'switchboard.db');
    store = await openSqliteStore({ filename }, options);
    await sql`create table probe (id integer primary key, body blob)`.execute(store.db);
    await store.transaction(async (tx) => {
      for (let i = 0; i < 100; i++) await sql`insert into probe (body) values (randomblob(8000))`.execute(tx);
    });
    return { filename, db: store.db };
  }

  it('copies committed pages to the database file off the committing connection, so the WAL starts over', async () => {
    const { filename, db } = await afterWrites();
    const copied = () => { const w = walIndex(filename); return w.mxFrame > 0 && w.nBackfill === w.mxFrame; };
    for (const deadline = Date.now() + 80 * CHECKPOINT_INTERVAL_MS; !copied() && Date.now() < deadline;) await sleep(20);
    expect(copied()).toBe(true);
    // Every frame was copied, so this transaction writes the WAL from its beginning again.
    await sql`insert into probe (body) values (x'00')`.execute(db);
    expect(walIndex(filename).mxFrame).toBeLessThan(20);
    // SQLite's own count agrees with the header as read above (walIndex's offsets are right).
    expect(walFrames(filename)).toBeLessThan(20);
    expect((await sql<{ n: number }>`select count(*) as n from probe`.execute(db)).rows[0]!.n).toBe(101);
  });

  it('leaves the checkpoints to the writer when asked to (a bulk import)', async () => {
    const { filename } = await afterWrites({ backgroundCheckpoints: false });
    await sleep(4 * CHECKPOINT_INTERVAL_MS);
    const { mxFrame, nBackfill } = walIndex(filename);
    expect(mxFrame).toBeGreaterThan(300);
    expect(nBackfill).toBeLessThan(mxFrame);
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

  it('answers each close of a file on its own, when the file is opened again before an earlier close is answered', async () => {
    const filename = path.join(tempDir(), 'switchboard.db');
    for (let round = 0; round < 8; round++) {
      const first = await openSqliteStore({ filename });
      await sql`create table if not exists probe (id integer primary key)`.execute(first.db);
      await sql`insert into probe default values`.execute(first.db);
      const firstClosed = first.close();
      const second = await openSqliteStore({ filename });
      await sql`insert into probe default values`.execute(second.db);
      await second.close();
      await firstClosed;
      // Both closed: the worker's connection too, before the last store's close was answered.
      expect(fs.existsSync(`${filename}-wal`), `round ${round}`).toBe(false);
    }
  });
});
