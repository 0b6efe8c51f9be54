/**
 * `Store.orgVersion` (SQLite: a statement of its own on the read connection) reads what
 * store/sequences.ts `orgVersion` reads: each commit's version at once, one made through
 * another connection to the same store (a CLI process, another node) too, and after a
 * migration; 0 for an organization that never wrote. On both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/services/tenants.js';
import { openStore } from '../../src/store/open.js';
import { inOrgTransaction, orgVersion } from '../../src/store/sequences.js';
import { harness, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => { h = await harness(); });
afterAll(async () => { await h.close(); });

describe('Store.orgVersion', () => {
  it('reads each commit\'s version at once, as orgVersion does', async () => {
    const { orgId } = await createOrganization(h.store, 'versions');
    expect(await h.store.orgVersion('org_never_wrote')).toBe(0);
    for (let i = 0; i < 3; i++) {
      const before = await h.store.orgVersion(orgId);
      await inOrgTransaction(h.store, orgId, async () => {});
      const after = await h.store.orgVersion(orgId);
      expect(after).toBe(before + 1);
      expect(after).toBe(await orgVersion(h.store.db, orgId));
    }
  });

  it('sees a commit made through another connection to the store, and reads on after a migration', async () => {
    const { orgId } = await createOrganization(h.store, 'versions-elsewhere');
    const before = await h.store.orgVersion(orgId);
    const other = await openStore(h.config);
    try {
      await inOrgTransaction(other, orgId, async () => {});
      await inOrgTransaction(other, orgId, async () => {});
    } finally {
      await other.close();
    }
    expect(await h.store.orgVersion(orgId)).toBe(before + 2);
    await h.store.migrate();
    await inOrgTransaction(h.store, orgId, async () => {});
    expect(await h.store.orgVersion(orgId)).toBe(before + 3);
  });
});
