/**
 * The `identity_id` filter of list and count routes (src/api/identity-filter.ts; Inkbox,
 * "List conversations": 404 when `agent_identity_id` is not found or not visible): every
 * GET operation of the OpenAPI document whose query takes `identity_id` answers an
 * unknown identity, a malformed id and another organization's identity alike with a
 * `404 not_found` naming the parameter, never a 200 with an empty list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, type Harness } from '../helpers.js';

let h: Harness;
let own: string;
let other: string;
let theirs: string;
let otherKey: string;
let scopedKey: string;
/** `GET` paths (no path parameters) whose query takes `identity_id`. */
let lists: string[];

beforeAll(async () => {
  h = await harness();
  own = (await identityWithMailbox(h, 'support@filter.test', 'support')).identityId;
  other = (await identityWithMailbox(h, 'sales@filter.test', 'sales')).identityId;
  otherKey = await h.otherOrg();
  const created = await h.app.inject({
    method: 'POST', url: '/v1/identities', headers: { authorization: `Bearer ${otherKey}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ handle: 'theirs' }),
  });
  theirs = created.json().id;
  scopedKey = (await createApiKey(h.store.db, h.orgId, 'support only', { identityId: own })).key;
  const doc = (await h.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
  lists = Object.entries(doc.paths)
    .filter(([path, ops]) => !path.includes('{') && !path.endsWith('/stream')
      && (ops.get?.parameters ?? []).some((p) => p.in === 'query' && p.name === 'identity_id'))
    .map(([path]) => path);
});
afterAll(async () => { await h.close(); });

const get = (url: string, key = h.key) => h.request('GET', url, undefined, { authorization: `Bearer ${key}` });

describe('identity_id on list routes', () => {
  it('answers an unknown, malformed or other organization\'s identity with 404 not_found naming identity_id', async () => {
    expect(lists).toEqual(expect.arrayContaining([
      '/v1/conversations', '/v1/conversations/overdue/count', '/v1/connections', '/v1/channel_accounts', '/v1/mailboxes',
      '/v1/contact_rules', '/v1/outbound', '/v1/views/counts',
    ]));
    const ids = ['idn_01h455vb4pex5vsknk084sn02q', 'nope', theirs];
    for (const path of lists) {
      for (const id of ids) {
        const res = await get(`${path}?identity_id=${encodeURIComponent(id)}`);
        expect(res.status, `${path} ${id}`).toBe(404);
        expect(res.body, `${path} ${id}`).toMatchObject({ code: 'not_found', param: 'identity_id' });
        // The other organization's identity looks exactly like a missing one.
        expect(JSON.stringify(res.body)).not.toContain('theirs');
      }
      expect((await get(`${path}?identity_id=${own}`)).status, path).toBe(200);
    }
    // The other organization still lists its own.
    expect((await get(`/v1/conversations?identity_id=${theirs}`, otherKey)).status).toBe(200);
  });

  it('answers an identity of a view-narrowed list the same way, and keeps 403 forbidden_identity for a scoped key naming another identity', async () => {
    const res = await get('/v1/conversations?view_id=view_all&identity_id=idn_01h455vb4pex5vsknk084sn02q');
    expect(res.status).toBe(404);
    expect(res.body.param).toBe('identity_id');
    for (const path of lists) {
      const res = await get(`${path}?identity_id=${other}`, scopedKey);
      // Routes the scoped key may not use at all answer 403 missing_permission first.
      expect(res.status, path).toBe(403);
      if ((await get(path, scopedKey)).status === 200) {
        expect(res.body.code, path).toBe('forbidden_identity');
        expect((await get(`${path}?identity_id=${own}`, scopedKey)).status, path).toBe(200);
      }
    }
  });
});
