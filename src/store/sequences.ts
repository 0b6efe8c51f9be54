/**
 * The org-wide event sequence and the per-organization write lock.
 *
 * Every event gets `seq` from its organization's row in `org_sequences`, incremented in
 * the writing transaction. The increment takes that row's lock (PostgreSQL row lock; on
 * SQLite the one writer lock), held until commit, so two writers of one organization
 * commit in the order of their numbers: once a reader sees `seq` N, every event below N
 * has committed or rolled back, and a reader paging `seq > last seen` never skips one.
 * Writers of different organizations never wait for each other.
 *
 * Write commands take the same lock first ({@link inOrgTransaction}), so what they read
 * (a conversation's summary, the Message-ID index) cannot change before they commit.
 *
 * The same row carries the organization's state `version`, bumped by every transaction
 * that takes the lock (appending events or not: linking contacts, changing views). A
 * reader that saw version V before reading knows its result is current while the
 * version is still V ({@link orgVersion}; api/read-cache.ts).
 */
import type { Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { Db, Store } from './store.js';

/**
 * Reserves `count` sequence numbers for `orgId` (0 only takes the lock) and bumps the
 * organization's state version.
 *
 * @returns the first reserved number; they run to `first + count - 1`.
 */
export async function nextSeqs(tx: Transaction<Database>, orgId: string, count: number): Promise<number> {
  const row = await tx.insertInto('org_sequences').values({ org_id: orgId, last_seq: count, version: 1 })
    .onConflict((oc) => oc.column('org_id').doUpdateSet((eb) => ({
      last_seq: eb('org_sequences.last_seq', '+', count),
      version: eb('org_sequences.version', '+', 1),
    })))
    .returning('last_seq')
    .executeTakeFirstOrThrow();
  return Number(row.last_seq) - count + 1;
}

/**
 * Runs `fn` in a transaction that holds the write lock of `orgIds` (one id or several)
 * from its start. Several are locked in sorted order, so two transactions that need
 * the same organizations cannot deadlock on them.
 *
 * After the commit, `store.commits` is told about each organization (other nodes
 * through `store.announceCommit`).
 *
 * @throws whatever `fn` throws (the transaction rolls back).
 */
export async function inOrgTransaction<T>(
  store: Store, orgIds: string | readonly string[], fn: (tx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  const ids = [...new Set(typeof orgIds === 'string' ? [orgIds] : orgIds)].sort();
  const result = await store.transaction(async (tx) => {
    for (const id of ids) await nextSeqs(tx, id, 0);
    const out = await fn(tx);
    await store.announceCommit(tx, ids);
    return out;
  });
  for (const id of ids) store.commits.committed(id);
  return result;
}

/**
 * The organization's state version: changes whenever a transaction that took its write
 * lock commits (0 for an organization that never wrote). One primary-key read.
 */
export async function orgVersion(db: Db, orgId: string): Promise<number> {
  const row = await db.selectFrom('org_sequences').select('version').where('org_id', '=', orgId).executeTakeFirst();
  return Number(row?.version ?? 0);
}

/**
 * The organization's head: the highest `seq` given to an event so far (0 for an
 * organization that never wrote). It never goes down, even when events are deleted with
 * their conversation, so a cursor above it did not come from this store. One
 * primary-key read.
 */
export async function headSeq(db: Db, orgId: string): Promise<number> {
  const row = await db.selectFrom('org_sequences').select('last_seq').where('org_id', '=', orgId).executeTakeFirst();
  return Number(row?.last_seq ?? 0);
}
