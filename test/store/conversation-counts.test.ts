/**
 * The conversation counters (store/conversation-counts.ts, kept by triggers) equal a
 * count of the rows, for any filter they serve, after any sequence of inserts, updates
 * of the counted columns, merges and deletes of conversations, on both stores.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationFilter } from '../../src/store/conversations.js';
import { countConversations, countConversationsMany, createConversation, scanCount } from '../../src/store/conversations.js';
import { countFromCounters } from '../../src/store/conversation-counts.js';
import { createOrganization } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, type Harness } from '../helpers.js';

let h: Harness;
const identities: { identityId: string; accountId: string }[] = [];
const MEMBERS = ['mem_a', 'mem_b'];
beforeAll(async () => {
  h = await harness();
  for (const address of ['one@counts.test', 'two@counts.test']) {
    const { identityId, mailboxId } = await identityWithMailbox(h, address);
    identities.push({ identityId, accountId: mailboxId });
  }
});
afterAll(async () => { await h.close(); });

const flag = fc.constantFrom(0, 1);
const columns = fc.record({
  archived: flag, starred: flag, is_blocked: flag, overdue: flag,
  assigned_to: fc.constantFrom(null, ...MEMBERS), unread_count: fc.constantFrom(0, 1, 3),
}, { requiredKeys: [] });
/** One column changed, as most writes do (a change of several fires the trigger for any one of them). */
const oneColumn = fc.oneof(
  fc.record({ archived: flag }), fc.record({ starred: flag }), fc.record({ is_blocked: flag }), fc.record({ overdue: flag }),
  fc.record({ assigned_to: fc.constantFrom(null, ...MEMBERS) }), fc.record({ unread_count: fc.constantFrom(0, 1, 3) }),
);
const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), identity: fc.nat(1), channel: fc.constantFrom('email', 'sms'), set: columns }) },
  fc.record({ kind: fc.constant('update' as const), at: fc.nat(), set: fc.oneof(oneColumn, columns) }),
  fc.record({ kind: fc.constant('move' as const), at: fc.nat(), identity: fc.nat(1) }),
  fc.record({ kind: fc.constant('merge' as const), at: fc.nat(), into: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);
/** A filter's condition, absent more often than not, so that most filters match some rows. */
const maybe = <T>(...values: T[]) => fc.oneof({ weight: 2 * values.length, arbitrary: fc.constant(undefined) }, fc.constantFrom(...values));
const tri = maybe(true, false);
const filter = fc.record({
  identity: maybe(0, 1), channel: maybe('email', 'sms'),
  archived: tri, starred: tri, isBlocked: tri, overdue: tri, unread: tri,
  assignee: maybe(null, ...MEMBERS), notAssignee: maybe(...MEMBERS),
});

describe('conversation counters', () => {
  it('equal a count of the rows after any writes, for every filter they serve', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.array(filter, { minLength: 1, maxLength: 12 }), async (ops, filters) => {
      // Each run writes in an organization of its own, so runs do not add up.
      const { orgId } = await createOrganization(h.store, 'counts');
      const ids: string[] = [];
      const db = h.store.db;
      for (const o of ops) {
        if (o.kind === 'insert') {
          const { identityId, accountId } = identities[o.identity]!;
          const row = await createConversation(db, {
            orgId, identityId, accountId, channel: o.channel, subject: null, counterpart: null, contactId: null, at: new Date().toISOString(),
          });
          if (Object.keys(o.set).length) await db.updateTable('conversations').set(o.set).where('id', '=', row.id).execute();
          ids.push(row.id);
          continue;
        }
        if (ids.length === 0) continue;
        const id = ids[o.at % ids.length]!;
        if (o.kind === 'update' && Object.keys(o.set).length) await db.updateTable('conversations').set(o.set).where('id', '=', id).execute();
        if (o.kind === 'move') await db.updateTable('conversations').set({ identity_id: identities[o.identity]!.identityId }).where('id', '=', id).execute();
        if (o.kind === 'merge') {
          const into = ids[o.into % ids.length]!;
          if (into !== id) await db.updateTable('conversations').set({ merged_into: into }).where('id', '=', id).execute();
        }
        if (o.kind === 'delete') {
          await db.deleteFrom('conversations').where('id', '=', id).execute();
          ids.splice(ids.indexOf(id), 1);
        }
      }
      const qs = filters.map((f): ConversationFilter => ({
        identityId: f.identity === undefined ? undefined : identities[f.identity]!.identityId,
        channel: f.channel, archived: f.archived, starred: f.starred, isBlocked: f.isBlocked, overdue: f.overdue, unread: f.unread,
        assignedTo: f.assignee, notAssignedTo: f.notAssignee,
      }));
      const scanned = await Promise.all(qs.map((q) => scanCount(db, orgId, q)));
      for (const [i, q] of qs.entries()) {
        const counted = await countFromCounters(db, orgId, q);
        expect(counted).not.toBeNull();
        expect(counted).toEqual(scanned[i]);
      }
      // All at once (one statement), and all of one identity (its rows alone are read).
      expect(await countConversationsMany(db, orgId, qs)).toEqual(scanned);
      const { identityId } = identities[1]!;
      const ofOne = qs.map((q) => ({ ...q, identityId }));
      expect(await countConversationsMany(db, orgId, ofOne)).toEqual(await Promise.all(ofOne.map((q) => scanCount(db, orgId, q))));
    }), { numRuns: 40 });
  });

  it('follow a change of each counted column alone', async () => {
    // The random writes above change one column alone only now and then; every column here.
    const { orgId } = await createOrganization(h.store, 'counts-columns');
    const db = h.store.db;
    const { identityId, accountId } = identities[0]!;
    const changes = [{ archived: 1 }, { starred: 1 }, { is_blocked: 1 }, { overdue: 1 }, { assigned_to: 'mem_a' }, { unread_count: 2 }, { identity_id: identities[1]!.identityId }];
    const filters: ConversationFilter[] = [
      {}, { archived: true }, { starred: true }, { isBlocked: true }, { overdue: true }, { assignedTo: 'mem_a' }, { assignedTo: null },
      { unread: true }, { identityId }, { identityId: identities[1]!.identityId },
    ];
    for (const set of changes) {
      const row = await createConversation(db, { orgId, identityId, accountId, channel: 'email', subject: null, counterpart: null, contactId: null, at: new Date().toISOString() });
      await db.updateTable('conversations').set(set).where('id', '=', row.id).execute();
      for (const q of filters) expect(await countFromCounters(db, orgId, q)).toEqual(await scanCount(db, orgId, q));
    }
  });

  it('leave filters they do not hold to a count of the rows', async () => {
    expect(await countFromCounters(h.store.db, h.orgId, { label: 'vip' })).toBeNull();
    expect(await countFromCounters(h.store.db, h.orgId, { since: '2020-01-01T00:00:00Z' })).toBeNull();
    expect(await countFromCounters(h.store.db, h.orgId, { with: 'a@b.test' })).toBeNull();
    expect(await countConversations(h.store.db, h.orgId, { label: 'vip' })).toEqual({ total: 0, unread: 0 });
    // A mix: the countable ones from the counters, the others counted, nulls as nothing, in order.
    const { orgId } = await createOrganization(h.store, 'counts-mixed');
    const { identityId, accountId } = identities[0]!;
    const row = await createConversation(h.store.db, { orgId, identityId, accountId, channel: 'email', subject: null, counterpart: null, contactId: null, at: new Date().toISOString() });
    await h.store.db.updateTable('conversations').set({ labels: JSON.stringify(['vip']), unread_count: 1 }).where('id', '=', row.id).execute();
    expect(await countConversationsMany(h.store.db, orgId, [{ label: 'vip' }, null, { unread: true }, { label: 'other' }, {}])).toEqual([
      { total: 1, unread: 1 }, { total: 0, unread: 0 }, { total: 1, unread: 1 }, { total: 0, unread: 0 }, { total: 1, unread: 1 },
    ]);
  });
});
