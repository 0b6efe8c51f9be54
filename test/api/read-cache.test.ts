/**
 * The read cache (api/read-cache.ts) never serves an answer older than the last commit:
 * cached list pages and view counts equal what a server without the cache answers,
 * whatever was written in between, by this server, another node on the same store, or
 * a write that appends no event (a contact link).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type Api } from '../../src/api/app.js';
import { openStore } from '../../src/store/open.js';
import { inOrgTransaction, orgVersion } from '../../src/store/sequences.js';
import type { Store } from '../../src/store/store.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
/** A server on the same store with the cache off: the reference answers. */
let uncached: Api;
/** Another node: a second store handle (another process on SQLite) and its own server, cache on. */
let otherStore: Store;
let otherNode: Api;
const convs: string[] = [];

const get = async (app: Api, url: string, key = h.key) => {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  return { status: res.statusCode, body: res.body, json: JSON.parse(res.body), type: res.headers['content-type'] };
};
const write = async (app: Api, method: string, url: string, body?: unknown) => {
  const res = await app.inject({
    method: method as 'POST', url, headers: { authorization: `Bearer ${h.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
};

beforeAll(async () => {
  h = await harness();
  uncached = await buildApp({ store: h.store, config: { ...h.config, readCacheBytes: 0 }, logger: false, isReady: () => true });
  otherStore = await openStore(h.config);
  otherNode = await buildApp({ store: otherStore, config: h.config, logger: false, isReady: () => true });
  await identityWithMailbox(h, 'help@shop.test');
  for (let i = 0; i < 6; i++) {
    const res = await inbound(h, rawEmail({
      from: `buyer${i}@client.test`, to: 'help@shop.test', messageId: `rc${i}@client.test`, subject: `Order ${i}`,
      date: `Mon, 16 Nov 2009 10:0${i}:00 +0000`,
    }));
    expect(res.status).toBe(201);
  }
  const list = await get(h.app, '/v1/conversations');
  convs.push(...list.json.data.map((c: { id: string }) => c.id));
  expect(convs).toHaveLength(6);
});

afterAll(async () => {
  await otherNode?.close();
  await otherStore?.close();
  await uncached?.close();
  await h?.close();
});

describe('the read cache', () => {
  it('serves a write made through another node on the next read', async () => {
    const before = await get(h.app, '/v1/conversations?label=vip');
    expect(before.json.data).toEqual([]);
    await write(otherNode, 'POST', `/v1/conversations/${convs[2]}/labels`, { labels: ['vip'] });
    const after = await get(h.app, '/v1/conversations?label=vip');
    expect(after.json.data.map((c: { id: string }) => c.id)).toEqual([convs[2]]);
    const counts = await get(h.app, '/v1/views/counts');
    const other = await get(otherNode, '/v1/views/counts');
    expect(counts.body).toBe(other.body);
  });

  it('serves a contact unlinked without a timeline event on the next read', async () => {
    const row = (await get(h.app, '/v1/conversations')).json.data.find((c: { id: string }) => c.id === convs[0]);
    expect(row.contact_id).toMatch(/^ct_/);
    await write(h.app, 'DELETE', `/v1/contacts/${row.contact_id}`);
    const again = (await get(h.app, '/v1/conversations')).json.data.find((c: { id: string }) => c.id === convs[0]);
    expect(again.contact_id).toBeNull();
  });

  it('serves counts of views saved, changed and deleted on the next read', async () => {
    const same = async () => {
      const cached = await get(h.app, '/v1/views/counts');
      expect(cached.body).toBe((await get(uncached, '/v1/views/counts')).body);
      return cached.json.data as { view_id: string; total: number }[];
    };
    await same();
    const created = await h.app.inject({
      method: 'POST', url: '/v1/views', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'Archived', filter: { archived: true } }),
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    expect((await same()).map((c) => c.view_id)).toContain(id);
    await write(h.app, 'PATCH', `/v1/views/${id}`, { filter: { archived: false } });
    await same();
    await write(otherNode, 'DELETE', `/v1/views/${id}`);
    expect((await same()).map((c) => c.view_id)).not.toContain(id);
  });

  it('keeps organizations apart: the same filter in another org is that org\'s page', async () => {
    const otherKey = await h.otherOrg();
    const otherOrgId = (await h.store.db.selectFrom('api_keys').select('org_id').where('org_id', '!=', h.orgId).executeTakeFirstOrThrow()).org_id;
    // Equal versions, so only the key's organization tells the entries apart.
    const target = await orgVersion(h.store.db, h.orgId);
    while (await orgVersion(h.store.db, otherOrgId) < target) await inOrgTransaction(h.store, otherOrgId, async () => {});
    expect(await orgVersion(h.store.db, otherOrgId)).toBe(target);
    expect((await get(h.app, '/v1/conversations')).json.data).toHaveLength(6);
    expect((await get(h.app, '/v1/conversations', otherKey)).json.data).toEqual([]);
    expect((await get(h.app, '/v1/views/counts', otherKey)).json.data.every((c: { total: number }) => c.total === 0)).toBe(true);
  });

  it('answers what the store says after any sequence of writes', async () => {
    const command = fc.oneof(
      fc.record({ kind: fc.constant('star' as const), conv: fc.nat(5), on: fc.boolean() }),
      fc.record({ kind: fc.constant('label' as const), conv: fc.nat(5), label: fc.constantFrom('vip', 'billing') }),
      fc.record({ kind: fc.constant('archive' as const), conv: fc.nat(5), on: fc.boolean() }),
      fc.record({ kind: fc.constant('read' as const), conv: fc.nat(5), on: fc.boolean() }),
    );
    const query = fc.constantFrom(
      '', '?starred=true', '?archived=false', '?unread=true', '?label=vip', '?label=billing&starred=false', '?limit=2', '?view_id=view_unread',
    );
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(command, query, fc.boolean()), { minLength: 1, maxLength: 8 }), async (steps) => {
      for (const [c, q, viaOther] of steps) {
        const node = viaOther ? otherNode : h.app;
        const conv = convs[c.conv]!;
        if (c.kind === 'star') await write(node, c.on ? 'PUT' : 'DELETE', `/v1/conversations/${conv}/star`);
        if (c.kind === 'label') await write(node, 'POST', `/v1/conversations/${conv}/labels`, { labels: [c.label] });
        if (c.kind === 'archive') await write(node, 'POST', `/v1/conversations/${conv}/archive`, { archived: c.on });
        if (c.kind === 'read') await write(node, 'POST', `/v1/conversations/${conv}/${c.on ? 'read' : 'unread'}`);
        for (const url of [`/v1/conversations${q}`, '/v1/views/counts']) {
          const cached = await get(h.app, url);
          const reference = await get(uncached, url);
          expect(cached.status).toBe(200);
          expect(cached.body).toBe(reference.body);
          expect(cached.type).toBe(reference.type);
        }
      }
    }), { numRuns: 15 });
  });
});
