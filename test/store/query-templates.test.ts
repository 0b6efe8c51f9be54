/**
 * Queries compiled once per shape (store/query-templates.ts) run with each call's values,
 * inside and outside a transaction, on both stores; a value the query would put in its
 * SQL text instead of a parameter is refused.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/services/tenants.js';
import { runTemplate, TEMPLATE_CACHE_SIZE } from '../../src/store/query-templates.js';
import { harness, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => { h = await harness(); });
afterAll(async () => { await h.close(); });

describe('query templates', () => {
  it('compile a shape once and run it with each call\'s values', async () => {
    const orgs = [await createOrganization(h.store, 'alpha'), await createOrganization(h.store, 'beta')];
    let builds = 0;
    const byName = (db: typeof h.store.db, id: string, name: string) => runTemplate(db, 'test:org-by-id-and-name', [id, name], (value) => {
      builds++;
      return db.selectFrom('organizations').select(['id', 'name']).where('id', '=', value(0) as string).where('name', '=', value(1) as string);
    });
    expect(await byName(h.store.db, orgs[0]!.orgId, 'alpha')).toEqual([{ id: orgs[0]!.orgId, name: 'alpha' }]);
    expect(await byName(h.store.db, orgs[1]!.orgId, 'beta')).toEqual([{ id: orgs[1]!.orgId, name: 'beta' }]);
    expect(await byName(h.store.db, orgs[1]!.orgId, 'alpha')).toEqual([]);
    expect(await h.store.transaction((tx) => byName(tx, orgs[0]!.orgId, 'alpha'))).toEqual([{ id: orgs[0]!.orgId, name: 'alpha' }]);
    expect(builds).toBe(1);
  });

  it('keep at most TEMPLATE_CACHE_SIZE shapes, the least recently used dropped and built again', async () => {
    let builds = 0;
    const byShape = (n: number) => runTemplate(h.store.db, `test:bounded:${n}`, [`org-${n}`], (value) => {
      builds++;
      return h.store.db.selectFrom('organizations').select('id').where('id', '=', value(0) as string);
    });
    for (let n = 0; n <= TEMPLATE_CACHE_SIZE; n++) await byShape(n);
    expect(builds).toBe(TEMPLATE_CACHE_SIZE + 1);
    await byShape(TEMPLATE_CACHE_SIZE); // still kept
    expect(builds).toBe(TEMPLATE_CACHE_SIZE + 1);
    await byShape(0); // the oldest, dropped
    expect(builds).toBe(TEMPLATE_CACHE_SIZE + 2);
  });

  it('refuse a value that is not a parameter of the query', async () => {
    await expect(runTemplate(h.store.db, 'test:inlined', ['x'], (value) => h.store.db.selectFrom('organizations')
      .select('id').where('name', '=', sql.raw<string>(String(value(0)))))).rejects.toThrow(/values 0 are not parameters/);
  });
});
