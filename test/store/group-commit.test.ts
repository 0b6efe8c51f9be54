/**
 * Group commit (store/group-commit.ts) on a real store: commands that arrive together
 * share one transaction, each keeps its own writes and `seq`, a failing command loses only
 * its own writes, and a command resolves only once its writes are committed. Live
 * ingest goes through it: concurrent `POST /v1/inbound/email` uploads all land, in
 * fewer transactions than messages.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/services/tenants.js';
import { GroupCommitter } from '../../src/store/group-commit.js';
import { headSeq, nextSeqs } from '../../src/store/sequences.js';
import type { Store } from '../../src/store/store.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'batch@shop.test', 'batch');
});
afterAll(async () => { await h.close(); });

/**
 * Counts the transactions the store runs from now on. (Commit notifications would not
 * do: on PostgreSQL a node hears its own commits again through LISTEN/NOTIFY.)
 */
function transactionsCounted(): { readonly count: number; stop(): void } {
  const store = h.store as { transaction: Store['transaction'] };
  const original = store.transaction;
  let count = 0;
  store.transaction = <T>(fn: Parameters<Store['transaction']>[0]) => {
    count++;
    return original.call(h.store, fn) as Promise<T>;
  };
  return { get count() { return count; }, stop: () => { store.transaction = original; } };
}

/** A command that reserves one `seq` of `orgId`, as appending an event does. */
const reserve = (orgId: string) => (tx: Parameters<Parameters<GroupCommitter['run']>[1]>[0]) => nextSeqs(tx, orgId, 1);

describe('GroupCommitter', () => {
  it('runs commands that arrive together in one transaction, each with its own seq, committed before any resolves', async () => {
    const committer = new GroupCommitter(h.store, 32);
    const transactions = transactionsCounted();
    const head = await headSeq(h.store.db, h.orgId);
    const seen: number[] = [];
    const seqs = await Promise.all(Array.from({ length: 20 }, () => committer.run(h.orgId, reserve(h.orgId)).then(async (seq) => {
      // Resolved only after the commit: a read outside the transaction (another
      // connection on PostgreSQL) already sees this command's reservation.
      seen.push(await headSeq(h.store.db, h.orgId) - seq);
      return seq;
    })));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => head + 1 + i));
    expect(seen.every((d) => d >= 0)).toBe(true);
    expect(transactions.count).toBe(1);
    transactions.stop();
  });

  it.each([
    { maxBatch: 1, commands: 5, expected: 5 }, // grouping off: a transaction each
    { maxBatch: 4, commands: 10, expected: 3 }, // a burst split into batches of at most maxBatch
  ])('with batches of at most $maxBatch, runs $commands commands in $expected transactions', async ({ maxBatch, commands, expected }) => {
    const committer = new GroupCommitter(h.store, maxBatch);
    const transactions = transactionsCounted();
    await Promise.all(Array.from({ length: commands }, () => committer.run(h.orgId, reserve(h.orgId))));
    expect(transactions.count).toBe(expected);
    transactions.stop();
  });

  it('never puts two organizations in one transaction', async () => {
    const other = (await createOrganization(h.store, 'other-batch')).orgId;
    const committer = new GroupCommitter(h.store, 32);
    const transactions = transactionsCounted();
    await Promise.all(Array.from({ length: 6 }, (_, i) => committer.run(i % 2 ? other : h.orgId, reserve(i % 2 ? other : h.orgId))));
    expect(transactions.count).toBe(2);
    transactions.stop();
  });

  it('rolls back only the commands that throw; the others commit, whatever their order', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), async (fails) => {
      const committer = new GroupCommitter(h.store, 32);
      const head = await headSeq(h.store.db, h.orgId);
      const results = await Promise.allSettled(fails.map((fail, i) => committer.run(h.orgId, async (tx) => {
        const seq = await nextSeqs(tx, h.orgId, 1);
        if (fail) throw new Error(`command ${i} fails`);
        return seq;
      })));
      results.forEach((r, i) => {
        if (fails[i]) expect(r.status === 'rejected' && (r.reason as Error).message).toBe(`command ${i} fails`);
        else expect(r.status).toBe('fulfilled');
      });
      const kept = fails.filter((f) => !f).length;
      // Only the kept commands' reservations remain: the numbers stay gap-free.
      expect(await headSeq(h.store.db, h.orgId)).toBe(head + kept);
      const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: kept }, (_, i) => head + 1 + i));
    }), { numRuns: 15 });
  });
});

describe('live ingest through group commit', () => {
  it('stores every one of a burst of uploads, in fewer transactions than messages', async () => {
    const transactions = transactionsCounted();
    const n = 24;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => inbound(h, rawEmail({
      from: `sender${i}@x.test`, to: 'batch@shop.test', subject: `burst ${i}`, messageId: `burst-${i}@x.test`,
    }))));
    expect(answers.map((a) => a.status)).toEqual(Array(n).fill(201));
    expect(transactions.count).toBeLessThan(n);
    transactions.stop();
    for (let i = 0; i < n; i++) {
      const list = await h.request('GET', `/v1/conversations?with=sender${i}@x.test`);
      expect(list.body.data).toHaveLength(1);
      expect(list.body.data[0].message_count).toBe(1);
    }
  });
});
