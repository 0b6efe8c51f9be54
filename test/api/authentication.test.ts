/**
 * Key rows remembered between requests (services/authentication.ts) never outlive a
 * change: a key revoked, or its member demoted, through another node (another process
 * on SQLite) stops counting on this node's very next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type Api } from '../../src/api/app.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { harness, type Harness } from '../helpers.js';

let h: Harness;
let otherStore: Store;
let otherNode: Api;

beforeAll(async () => {
  h = await harness();
  otherStore = await openStore(h.config);
  otherNode = await buildApp({ store: otherStore, config: h.config, logger: false, isReady: () => true });
});
afterAll(async () => {
  await otherNode?.close();
  await otherStore?.close();
  await h?.close();
});

const call = async (app: Api, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, body?: unknown) => {
  const res = await app.inject({
    method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json() };
};

describe('remembered keys', () => {
  it('a key revoked through another node is refused on the next request here', async () => {
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'short-lived' });
    expect(made.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
    expect((await call(otherNode, 'DELETE', `/v1/api_keys/${made.body.id}`, h.key)).status).toBeLessThan(300);
    const after = await call(h.app, 'GET', '/v1/conversations', made.body.key);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthenticated');
  });

  it('a member demoted through another node loses the administrative permissions here at once', async () => {
    const member = await call(h.app, 'POST', '/v1/members', h.key, { email: 'lead@acme.test', role: 'admin' });
    expect(member.status).toBe(201);
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'lead', member_id: member.body.id });
    expect(made.status).toBe(201);
    expect((await call(h.app, 'GET', '/v1/api_keys', made.body.key)).status).toBe(200);
    expect((await call(otherNode, 'PATCH', `/v1/members/${member.body.id}`, h.key, { role: 'agent' })).status).toBe(200);
    const after = await call(h.app, 'GET', '/v1/api_keys', made.body.key);
    expect(after.status).toBe(403);
    expect(after.body.code).toBe('missing_permission');
    expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
  });

  it('a wrong secret for a remembered key id is refused', async () => {
    const made = await call(h.app, 'POST', '/v1/api_keys', h.key, { name: 'guessed' });
    expect((await call(h.app, 'GET', '/v1/conversations', made.body.key)).status).toBe(200);
    const forged = made.body.key.slice(0, -4) + (made.body.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await call(h.app, 'GET', '/v1/conversations', forged)).status).toBe(401);
  });
});
