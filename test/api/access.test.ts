/**
 * Members, API keys and what a key may do: roles, permission lists, identity scope,
 * revocation and `last_used_at`, through HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../src/services/access.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: string;
let sales: string;
let supportConv: string;
let salesConv: string;
beforeAll(async () => {
  h = await harness();
  support = (await identityWithMailbox(h, 'support@acme.test', 'support')).identityId;
  sales = (await identityWithMailbox(h, 'sales@acme.test', 'sales')).identityId;
  supportConv = (await inbound(h, rawEmail({ from: 'ann@cust.test', to: 'support@acme.test', subject: 'Broken', messageId: 'b1@cust.test' }))).body.results[0].conversation_id;
  salesConv = (await inbound(h, rawEmail({ from: 'bob@cust.test', to: 'sales@acme.test', subject: 'Quote', messageId: 'q1@cust.test' }))).body.results[0].conversation_id;
});
afterAll(async () => { await h.close(); });

const as = (key: string) => ({ authorization: `Bearer ${key}` });
async function key(body: Record<string, unknown>) {
  const res = await h.request('POST', '/v1/api_keys', { name: 'k', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; key: string };
}

describe('members', () => {
  it('creates, lists, updates and removes members; emails are unique per organization', async () => {
    const created = await h.request('POST', '/v1/members', { email: 'Dee@Acme.test', name: 'Dee', role: 'admin' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'dee@acme.test', name: 'Dee', role: 'admin' });
    expect(created.body.id).toMatch(/^mem_/);
    const dup = await h.request('POST', '/v1/members', { email: 'dee@acme.test', role: 'agent' });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('email_in_use');
    expect((await h.request('POST', '/v1/members', { email: 'x@acme.test', role: 'boss' })).body.code).toBe('validation_failed');
    const patched = await h.request('PATCH', `/v1/members/${created.body.id}`, { role: 'agent' });
    expect(patched.body.role).toBe('agent');
    expect((await h.request('PATCH', `/v1/members/${created.body.id}`, {})).body.code).toBe('no_valid_fields');
    const listed = (await h.request('GET', '/v1/members')).body.data.map((m: any) => m.id);
    expect(listed).toContain(created.body.id);
    expect((await h.request('DELETE', `/v1/members/${created.body.id}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/members/${created.body.id}`)).status).toBe(404);
  });

  it('keeps one owner: the last cannot be demoted or removed', async () => {
    const owner = (await h.request('POST', '/v1/members', { email: 'own@acme.test', role: 'owner' })).body;
    const demote = await h.request('PATCH', `/v1/members/${owner.id}`, { role: 'admin' });
    expect(demote.status).toBe(409);
    expect(demote.body.code).toBe('last_owner');
    expect((await h.request('DELETE', `/v1/members/${owner.id}`)).body.code).toBe('last_owner');
    const second = (await h.request('POST', '/v1/members', { email: 'own2@acme.test', role: 'owner' })).body;
    expect((await h.request('PATCH', `/v1/members/${owner.id}`, { role: 'admin' })).body.role).toBe('admin');
    expect((await h.request('DELETE', `/v1/members/${second.id}`)).body.code).toBe('last_owner');
  });

  it('removing a member revokes their keys and unassigns their conversations', async () => {
    const m = (await h.request('POST', '/v1/members', { email: 'gone@acme.test', role: 'agent' })).body;
    const k = await key({ member_id: m.id });
    await h.request('POST', `/v1/conversations/${supportConv}/assign`, { assigned_to: m.id });
    expect((await h.request('GET', '/v1/conversations', undefined, as(k.key))).status).toBe(200);
    await h.request('DELETE', `/v1/members/${m.id}`);
    expect((await h.request('GET', '/v1/conversations', undefined, as(k.key))).status).toBe(401);
    expect((await h.request('GET', `/v1/conversations/${supportConv}`)).body.assigned_to).toBeNull();
  });
});

describe('API keys', () => {
  it('shows the secret once, lists keys without secrets, and revokes at once', async () => {
    const k = await key({ name: 'ci' });
    expect(k.key).toMatch(/^sb_key_/);
    const listed = (await h.request('GET', '/v1/api_keys?limit=200')).body.data.find((x: any) => x.id === k.id);
    expect(listed).toMatchObject({ name: 'ci', permissions: null, revoked_at: null, member_id: null, identity_id: null });
    expect(JSON.stringify(listed)).not.toContain(k.key.slice(-20));
    expect((await h.request('GET', '/v1/identities', undefined, as(k.key))).status).toBe(200);
    const revoked = await h.request('DELETE', `/v1/api_keys/${k.id}`);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await h.request('GET', '/v1/identities', undefined, as(k.key));
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthenticated');
  });

  it('records last_used_at when a key is used', async () => {
    const k = await key({});
    const find = async () => (await h.request('GET', '/v1/api_keys?limit=200')).body.data.find((x: any) => x.id === k.id);
    expect((await find()).last_used_at).toBeNull();
    const before = Date.now();
    await h.request('GET', '/v1/conversations', undefined, as(k.key));
    expect(Date.parse((await find()).last_used_at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('a permission list limits what the key may do: 403 missing_permission', async () => {
    const reader = await key({ permissions: ['conversations:read'] });
    expect((await h.request('GET', '/v1/conversations', undefined, as(reader.key))).status).toBe(200);
    for (const [method, url, body] of [
      ['PUT', `/v1/conversations/${supportConv}/star`, undefined],
      ['POST', `/v1/conversations/${supportConv}/messages`, { text: 'hi' }],
      ['GET', '/v1/events', undefined],
      ['POST', '/v1/identities', { handle: 'nope' }],
    ] as const) {
      const res = await h.request(method, url, body, as(reader.key));
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(res.body.code).toBe('missing_permission');
    }
    expect((await h.request('GET', `/v1/conversations/${supportConv}`)).body.starred).toBe(false);
  });

  it('a key cannot grant more than its own permissions', async () => {
    const admin = await key({ permissions: ['members:manage', 'conversations:read'] });
    const wider = await h.request('POST', '/v1/api_keys', { name: 'x' }, as(admin.key));
    expect(wider.status).toBe(403);
    expect(wider.body).toMatchObject({ code: 'missing_permission', param: 'permissions' });
    const same = await h.request('POST', '/v1/api_keys', { name: 'x', permissions: ['conversations:read'] }, as(admin.key));
    expect(same.status).toBe(201);
    expect((await h.request('POST', '/v1/api_keys', { name: 'x', permissions: ['root'] })).body.code).toBe('validation_failed');
  });

  it('checks member_id and identity_id belong to the organization', async () => {
    expect((await h.request('POST', '/v1/api_keys', { name: 'x', member_id: 'mem_01h455vb4pex5vsknk084sn02q' })).body.code).toBe('not_a_member');
    const bad = await h.request('POST', '/v1/api_keys', { name: 'x', identity_id: 'idn_01h455vb4pex5vsknk084sn02q' });
    expect(bad.status).toBe(404);
    expect(bad.body.param).toBe('identity_id');
  });

  it('an agent member\'s key cannot manage members, keys, webhooks or settings', async () => {
    const agent = (await h.request('POST', '/v1/members', { email: 'agent1@acme.test', role: 'agent' })).body;
    const k = await key({ member_id: agent.id });
    for (const [method, url, body] of [
      ['POST', '/v1/members', { email: 'x2@acme.test', role: 'owner' }],
      ['POST', '/v1/api_keys', { name: 'mine' }],
      ['GET', '/v1/webhook_endpoints', undefined],
      ['PUT', '/v1/sla', { first_response_ms: 1000, next_response_ms: null }],
    ] as const) {
      expect((await h.request(method, url, body, as(k.key))).body.code, `${method} ${url}`).toBe('missing_permission');
    }
    expect((await h.request('PUT', `/v1/conversations/${supportConv}/star`, undefined, as(k.key))).status).toBe(200);
    expect((await h.request('GET', '/v1/members', undefined, as(k.key))).status).toBe(200);
    await h.request('DELETE', `/v1/conversations/${supportConv}/star`);
  });

  it('lists every permission in the OpenAPI document', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(doc.components.schemas.ApiKey.properties.permissions.anyOf[0].items.enum).toEqual([...PERMISSIONS]);
  });
});

describe('identity-scoped keys', () => {
  let scoped: string;
  beforeAll(async () => { scoped = (await key({ identity_id: support })).key; });

  it('list only their identity\'s conversations; naming another identity is 403 forbidden_identity', async () => {
    const listed = (await h.request('GET', '/v1/conversations?limit=200', undefined, as(scoped))).body.data.map((c: any) => c.id);
    expect(listed).toContain(supportConv);
    expect(listed).not.toContain(salesConv);
    expect((await h.request('GET', `/v1/conversations?identity_id=${support}`, undefined, as(scoped))).status).toBe(200);
    const other = await h.request('GET', `/v1/conversations?identity_id=${sales}`, undefined, as(scoped));
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'forbidden_identity', param: 'identity_id' });
    const send = await h.request('POST', '/v1/messages', { identity_id: sales, to: 'x@y.test', subject: 's', text: 't' }, as(scoped));
    expect(send.body.code).toBe('forbidden_identity');
    expect((await h.request('GET', `/v1/conversations/overdue/count?identity_id=${sales}`, undefined, as(scoped))).body.code).toBe('forbidden_identity');
  });

  it('get 404 for another identity\'s conversation, messages and identity', async () => {
    const messages = (await h.request('GET', `/v1/conversations/${salesConv}/messages`)).body.data;
    for (const url of [
      `/v1/conversations/${salesConv}`, `/v1/conversations/${salesConv}/events`, `/v1/conversations/${salesConv}/messages`,
      `/v1/messages/${messages[0].id}`, `/v1/messages/${messages[0].id}/raw`, `/v1/identities/${sales}`,
    ]) {
      const res = await h.request('GET', url, undefined, as(scoped));
      expect(res.status, url).toBe(404);
    }
    for (const [method, url, body] of [
      ['POST', `/v1/conversations/${salesConv}/read`, undefined], ['POST', `/v1/conversations/${salesConv}/messages`, { text: 'x' }],
      ['PATCH', `/v1/conversations/${salesConv}`, { starred: true }], ['POST', `/v1/conversations/${salesConv}/notes`, { text: 'x' }],
    ] as const) {
      expect((await h.request(method, url, body, as(scoped))).status, `${method} ${url}`).toBe(404);
    }
    expect((await h.request('GET', `/v1/conversations/${supportConv}`, undefined, as(scoped))).status).toBe(200);
    const ids = (await h.request('GET', '/v1/identities', undefined, as(scoped))).body.data.map((i: any) => i.id);
    expect(ids).toEqual([support]);
    const boxes = (await h.request('GET', '/v1/mailboxes', undefined, as(scoped))).body.data.map((m: any) => m.identity_id);
    expect(new Set(boxes)).toEqual(new Set([support]));
  });

  it('see only their identity\'s events on the change feed', async () => {
    const feed = (await h.request('GET', '/v1/events?limit=200', undefined, as(scoped))).body.data;
    const conversations = new Set(feed.map((e: any) => e.conversation_id));
    expect(conversations.has(supportConv)).toBe(true);
    expect(conversations.has(salesConv)).toBe(false);
    const all = (await h.request('GET', '/v1/events?limit=200')).body.data;
    expect(feed).toEqual(all.filter((e: any) => e.conversation_id !== salesConv && conversations.has(e.conversation_id)));
  });

  it('never hold administrative permissions, even when listed', async () => {
    const k = await key({ identity_id: support, permissions: ['members:manage', 'conversations:read'] });
    expect((await h.request('POST', '/v1/api_keys', { name: 'escalate' }, as(k.key))).body.code).toBe('missing_permission');
    expect((await h.request('POST', '/v1/identities', { handle: 'x' }, as(scoped))).body.code).toBe('missing_permission');
    expect((await h.request('GET', '/v1/webhook_endpoints', undefined, as(scoped))).body.code).toBe('missing_permission');
  });
});
