/**
 * The SQLite store's two connections (store/sqlite/read-write-driver.ts): a read outside
 * a transaction neither waits for the transaction in flight nor sees its uncommitted
 * writes; a write outside a transaction waits for it; the read connection refuses
 * writes. (PostgreSQL's pool behaves so by itself: the postgres project skips this file.)
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headSeq, nextSeqs } from '../../src/store/sequences.js';
import { harness, TEST_STORE, type Harness } from '../helpers.js';

describe.skipIf(TEST_STORE !== 'sqlite')('SQLite reads beside a write transaction', () => {
  let h: Harness;
  beforeAll(async () => { h = await harness(); });
  afterAll(async () => { await h.close(); });

  it('reads the last committed state at once while a transaction is open, and the new state after it commits', async () => {
    const before = await headSeq(h.store.db, h.orgId);
    let readInside = -1;
    await h.store.transaction(async (tx) => {
      await nextSeqs(tx, h.orgId, 3);
      // With one connection this read would wait for this very transaction: a deadlock.
      readInside = await headSeq(h.store.db, h.orgId);
      expect(await headSeq(tx, h.orgId)).toBe(before + 3);
    });
    expect(readInside).toBe(before);
    expect(await headSeq(h.store.db, h.orgId)).toBe(before + 3);
  });

  it('runs a write made outside a transaction after the open transaction ends', async () => {
    const before = await headSeq(h.store.db, h.orgId);
    const order: string[] = [];
    let outside: Promise<unknown> = Promise.resolve();
    await h.store.transaction(async (tx) => {
      await nextSeqs(tx, h.orgId, 1);
      outside = h.store.db.updateTable('org_sequences').set((eb) => ({ last_seq: eb('last_seq', '+', 10) }))
        .where('org_id', '=', h.orgId).execute().then(() => order.push('outside write'));
      await new Promise((r) => setTimeout(r, 20));
      order.push('transaction ends');
    });
    await outside;
    expect(order).toEqual(['transaction ends', 'outside write']);
    expect(await headSeq(h.store.db, h.orgId)).toBe(before + 11);
  });

  it('sends a write made outside a transaction to the writer, never to the read connection', async () => {
    // `insert … returning` returns rows like a read: it must still count as a write.
    const row = await h.store.db.insertInto('org_sequences').values({ org_id: 'org_rw_probe', last_seq: 1, version: 1 })
      .returning('last_seq').executeTakeFirstOrThrow();
    expect(Number(row.last_seq)).toBe(1);
    const check = await sql<{ n: number }>`select count(*) as n from org_sequences where org_id = 'org_rw_probe'`.execute(h.store.db);
    expect(Number(check.rows[0]!.n)).toBe(1);
  });
});
