/**
 * Setting a store up (`switchboard init`) is idempotent: an empty store gets one
 * organization, its first key and an owner member; running it again (or many times at
 * once) creates nothing; `newOrganization` creates another; a store set up before
 * members existed gets its owner member.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_OWNER_EMAIL, setUpOrganization } from '../../src/services/organization-setup.js';
import { createOrganization } from '../../src/services/tenants.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { freshDatabase, tempDir } from '../helpers.js';

let store: Store;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  const dataDir = tempDir();
  const database = await freshDatabase();
  store = await openStore(loadConfig({ dataDir, databaseUrl: database.url, logLevel: 'silent' }, {}));
  cleanup = async () => {
    await store.close();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
});
afterEach(async () => { await cleanup(); });

const organizations = () => store.db.selectFrom('organizations').selectAll().orderBy('id').execute();
const members = () => store.db.selectFrom('members').selectAll().orderBy('id').execute();
const keys = () => store.db.selectFrom('api_keys').selectAll().execute();

describe('setUpOrganization', () => {
  it('on an empty store creates an organization, its first key and its owner member', async () => {
    const s = await setUpOrganization(store, { name: 'acme' });
    expect(s.organization.name).toBe('acme');
    expect(s.apiKey?.key).toMatch(/^sb_key_/);
    expect(s.ownerCreated).toBe(true);
    expect(s.owner).toMatchObject({ org_id: s.organization.id, role: 'owner', email: DEFAULT_OWNER_EMAIL });
    expect(await organizations()).toHaveLength(1);
    expect(await members()).toEqual([s.owner]);
    expect((await keys()).map((k) => k.id)).toEqual([s.apiKey!.id]);
  });

  it('run again creates nothing and returns the first organization and its owner', async () => {
    const first = await setUpOrganization(store, { name: 'acme', ownerEmail: 'Boss@Acme.example' });
    expect(first.owner.email).toBe('boss@acme.example');
    const again = await setUpOrganization(store, { name: 'other', ownerEmail: 'x@y.example' });
    expect(again.apiKey).toBeNull();
    expect(again.ownerCreated).toBe(false);
    expect(again.organization).toEqual(first.organization);
    expect(again.owner).toEqual(first.owner);
    expect(await organizations()).toHaveLength(1);
    expect(await members()).toHaveLength(1);
    expect(await keys()).toHaveLength(1);
  });

  it('run by several processes at once creates one organization', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => setUpOrganization(store, { name: 'default' })));
    expect(runs.filter((r) => r.apiKey !== null)).toHaveLength(1);
    expect(new Set(runs.map((r) => r.organization.id)).size).toBe(1);
    expect(await organizations()).toHaveLength(1);
    expect(await members()).toHaveLength(1);
  });

  it('with newOrganization creates a second organization with its own key and owner', async () => {
    const first = await setUpOrganization(store, { name: 'default' });
    const second = await setUpOrganization(store, { name: 'acme', newOrganization: true });
    expect(second.apiKey).not.toBeNull();
    expect(second.organization.id).not.toBe(first.organization.id);
    expect(second.owner.org_id).toBe(second.organization.id);
    expect(second.organizations.map((o) => o.id)).toEqual([first.organization.id, second.organization.id]);
    // Run again without it: the first organization, nothing created.
    const again = await setUpOrganization(store, { name: 'default' });
    expect(again.organization.id).toBe(first.organization.id);
    expect(again.apiKey).toBeNull();
    expect(await organizations()).toHaveLength(2);
  });

  it('gives a store set up before members existed its owner member, and nothing else', async () => {
    const { orgId } = await createOrganization(store, 'old');
    const s = await setUpOrganization(store, { name: 'default' });
    expect(s.organization.id).toBe(orgId);
    expect(s.apiKey).toBeNull();
    expect(s.ownerCreated).toBe(true);
    expect(await members()).toEqual([s.owner]);
    expect(await organizations()).toHaveLength(1);
    expect(await keys()).toHaveLength(1);
  });

  it('refuses to create the owner with the email of a member who is not one', async () => {
    const { orgId } = await createOrganization(store, 'old');
    const now = new Date().toISOString();
    await store.db.insertInto('members').values({
      id: 'mem_01h455vb4pex5vsknk084sn02q', org_id: orgId, email: DEFAULT_OWNER_EMAIL, name: null, role: 'agent', created_at: now, updated_at: now,
    }).execute();
    await expect(setUpOrganization(store, { name: 'default' })).rejects.toMatchObject({ code: 'email_in_use' });
    expect(await members()).toHaveLength(1);
  });
});
