/**
 * Keys the operator issues on the store (`switchboard keys create`): they work against
 * the API with exactly the grant asked for, follow the same rules as `POST /v1/api_keys`
 * (members and identities of the organization only), and a permission the key could not
 * hold (a member's role, an identity scope) is refused, not silently dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueOperatorKey } from '../../src/services/operator-keys.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: string;
let sales: string;
let supportConv: string;
let agent: { id: string; email: string };
let admin: { id: string };
beforeAll(async () => {
  h = await harness();
  support = (await identityWithMailbox(h, 'support@acme.test', 'support')).identityId;
  sales = (await identityWithMailbox(h, 'sales@acme.test', 'sales')).identityId;
  supportConv = (await inbound(h, rawEmail({ from: 'ann@cust.test', to: 'support@acme.test', subject: 'Broken', messageId: 'b1@cust.test' }))).body.results[0].conversation_id;
  await inbound(h, rawEmail({ from: 'bob@cust.test', to: 'sales@acme.test', subject: 'Quote', messageId: 'q1@cust.test' }));
  agent = (await h.request('POST', '/v1/members', { email: 'ag@acme.test', role: 'agent' })).body;
  admin = (await h.request('POST', '/v1/members', { email: 'ad@acme.test', role: 'admin' })).body;
});
afterAll(async () => { await h.close(); });

const as = (key: string) => ({ authorization: `Bearer ${key}` });
const keyCount = async () => (await h.store.db.selectFrom('api_keys').select('id').execute()).length;

describe('issueOperatorKey', () => {
  it('issues an org-wide key with every permission that works against the API', async () => {
    const { key, row } = await issueOperatorKey(h.store, h.orgId, { name: 'recovered' });
    expect(row).toMatchObject({ org_id: h.orgId, name: 'recovered', member_id: null, identity_id: null, permissions: null });
    expect((await h.request('GET', '/v1/conversations', undefined, as(key.key))).body.data).toHaveLength(2);
    expect((await h.request('POST', '/v1/identities', { handle: 'ops' }, as(key.key))).status).toBe(201);
  });

  it('issues a key scoped to an identity (by id or handle) with the listed permissions only', async () => {
    for (const identity of [support, 'support']) {
      const { key, row } = await issueOperatorKey(h.store, h.orgId, { name: 'bot', identity, permissions: ['conversations:read'] });
      expect(row).toMatchObject({ identity_id: support, permissions: '["conversations:read"]' });
      const list = await h.request('GET', '/v1/conversations', undefined, as(key.key));
      expect(list.body.data.map((c: any) => c.id)).toEqual([supportConv]);
      expect((await h.request('GET', `/v1/conversations?identity_id=${sales}`, undefined, as(key.key))).body.code).toBe('forbidden_identity');
      const send = await h.request('POST', `/v1/conversations/${supportConv}/messages`, { text: 'hi' }, as(key.key));
      expect(send.body.code).toBe('missing_permission');
    }
  });

  it('issues a key acting as a member, named by id or email', async () => {
    const byEmail = await issueOperatorKey(h.store, h.orgId, { name: 'me', member: 'AG@acme.test' });
    expect(byEmail.row.member_id).toBe(agent.id);
    const assigned = await h.request('POST', `/v1/conversations/${supportConv}/assign`, { assigned_to: 'me' }, as(byEmail.key.key));
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200);
    expect(assigned.body.assigned_to).toBe(agent.id);
    // An agent's key holds no administrative permission.
    expect((await h.request('POST', '/v1/identities', { handle: 'nope' }, as(byEmail.key.key))).body.code).toBe('missing_permission');
    const byId = await issueOperatorKey(h.store, h.orgId, { name: 'admin', member: admin.id, permissions: ['members:manage'] });
    expect((await h.request('GET', '/v1/api_keys', undefined, as(byId.key.key))).status).toBe(200);
  });

  it('refuses a permission the member\'s role or the identity scope takes away, and creates nothing', async () => {
    const before = await keyCount();
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', member: agent.id, permissions: ['conversations:read', 'members:manage'] }))
      .rejects.toMatchObject({ code: 'missing_permission', message: expect.stringContaining('members:manage') });
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', identity: support, permissions: ['views:write'] }))
      .rejects.toMatchObject({ code: 'missing_permission', message: expect.stringContaining(`scoped to ${support}`) });
    expect(await keyCount()).toBe(before);
  });

  it('refuses unknown permissions, members and identities of no organization of its own', async () => {
    const before = await keyCount();
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', permissions: ['root'] }))
      .rejects.toMatchObject({ code: 'validation_failed', message: expect.stringContaining('conversations:read') });
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', member: 'mem_01h455vb4pex5vsknk084sn02q' })).rejects.toMatchObject({ code: 'not_a_member' });
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', member: 'nobody@acme.test' })).rejects.toMatchObject({ code: 'not_a_member' });
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', identity: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
    // Another organization's member and identity are not this one's.
    const otherKey = await h.otherOrg();
    const otherIdentity = (await h.request('POST', '/v1/identities', { handle: 'theirs' }, as(otherKey))).body.id;
    const otherMember = (await h.request('POST', '/v1/members', { email: 'o@other.test', role: 'owner' }, as(otherKey))).body.id;
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', identity: otherIdentity })).rejects.toMatchObject({ code: 'not_found' });
    await expect(issueOperatorKey(h.store, h.orgId, { name: 'x', member: otherMember })).rejects.toMatchObject({ code: 'not_a_member' });
    expect(await keyCount()).toBe(before + 1); // the other organization's key only
  });
});
