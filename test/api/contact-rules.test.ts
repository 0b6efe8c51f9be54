/**
 * Contact rules through the API: CRUD and validation, who may read and write them,
 * isolation between organizations, inbound mail from a blocked sender (stored, marked
 * `is_blocked`, hidden by default, never shown to identity-scoped keys) and sends to a
 * blocked recipient (403 `recipient_blocked`, nothing stored).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: string;
let sales: string;
/** Keys scoped to the support identity. */
let scoped: Record<string, string>;
beforeAll(async () => {
  h = await harness();
  ({ identityId: support } = await identityWithMailbox(h, 'support@shop.test', 'support'));
  ({ identityId: sales } = await identityWithMailbox(h, 'sales@shop.test', 'sales'));
  const key = await createApiKey(h.store.db, h.orgId, 'support agent', { identityId: support });
  scoped = { authorization: `Bearer ${key.key}` };
});
afterAll(async () => { await h.close(); });

const createRule = (body: unknown, headers?: Record<string, string>) => h.request('POST', '/v1/contact_rules', body, headers);
const rows = async (table: 'messages' | 'raw_messages' | 'conversations') =>
  Number((await h.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

describe('contact rule CRUD', () => {
  it('creates a rule with its pattern normalized, returns an identical one with 200, reads, lists and deletes it', async () => {
    const res = await createRule({ action: 'block', kind: 'address', pattern: '  Spam@Junk.TEST ' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ action: 'block', kind: 'address', pattern: 'spam@junk.test', identity_id: null });
    expect(res.body.id).toMatch(/^rule_/);
    const again = await createRule({ action: 'block', kind: 'address', pattern: 'spam@junk.test', identity_id: null });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);

    expect((await h.request('GET', `/v1/contact_rules/${res.body.id}`)).body).toEqual(res.body);
    expect((await h.request('GET', '/v1/contact_rules')).body.data.map((r: any) => r.id)).toContain(res.body.id);

    expect((await h.request('DELETE', `/v1/contact_rules/${res.body.id}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/contact_rules/${res.body.id}`)).body.code).toBe('not_found');
    expect((await h.request('DELETE', `/v1/contact_rules/${res.body.id}`)).status).toBe(404);
  });

  it('refuses a pattern that does not fit its kind, an unknown action or kind, and an unknown identity', async () => {
    for (const [kind, pattern] of [['address', 'junk.test'], ['domain', '@junk.test'], ['domain', '*.junk.test'], ['number_prefix', '1555'], ['number_prefix', '+1 555']]) {
      const res = await createRule({ action: 'block', kind, pattern });
      expect(res.status, `${kind} ${pattern}`).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', param: 'pattern' });
      expect(res.body.fix).toMatch(kind === 'number_prefix' ? /E\.164/ : kind === 'domain' ? /example\.com/ : /email address/);
    }
    expect((await createRule({ action: 'mute', kind: 'address', pattern: 'a@b.test' })).body).toMatchObject({ code: 'validation_failed', param: 'action' });
    expect((await createRule({ action: 'block', kind: 'regex', pattern: 'a@b.test' })).body).toMatchObject({ code: 'validation_failed', param: 'kind' });
    expect((await createRule({ action: 'block', kind: 'address' })).body).toMatchObject({ code: 'validation_failed', param: 'pattern' });
    expect((await createRule({ action: 'block', kind: 'address', pattern: 'a@b.test', extra: 1 })).body.code).toBe('validation_failed');
    for (const identity_id of ['idn_01h455vb4pex5vsknk084sn02q', 'nope']) {
      const res = await createRule({ action: 'block', kind: 'address', pattern: 'a@b.test', identity_id });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'not_found', param: 'identity_id' });
    }
    expect((await h.request('GET', '/v1/contact_rules/rule_nope')).status).toBe(404);
  });

  it('lists keyset-paged in creation order, filtered by action, kind and the identity rules apply to', async () => {
    const made: any[] = [];
    for (const [action, kind, pattern, identity_id] of [
      ['block', 'domain', 'list-a.test', null], ['allow', 'address', 'ok@list-a.test', support], ['block', 'number_prefix', '+1900', sales],
      ['block', 'address', 'x@list-b.test', sales], ['allow', 'domain', 'list-b.test', null],
    ] as const) {
      made.push((await createRule({ action, kind, pattern, identity_id })).body);
    }
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/v1/contact_rules?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.data);
      cursor = res.body.next_cursor;
    } while (cursor);
    const ids = seen.map((r) => r.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(made.map((r) => r.id)));

    const pick = async (query: string) => (await h.request('GET', `/v1/contact_rules?${query}&limit=200`)).body.data
      .filter((r: any) => made.some((m) => m.id === r.id)).map((r: any) => r.pattern);
    expect(await pick('action=allow')).toEqual(['ok@list-a.test', 'list-b.test']);
    expect(await pick('kind=number_prefix')).toEqual(['+1900']);
    expect(await pick(`identity_id=${sales}`)).toEqual(['list-a.test', '+1900', 'x@list-b.test', 'list-b.test']);
    expect((await h.request('GET', '/v1/contact_rules?identity_id=idn_nope')).body).toMatchObject({ code: 'not_found', param: 'identity_id' });
    expect((await h.request('GET', '/v1/contact_rules?cursor=bad')).body).toMatchObject({ code: 'validation_failed', param: 'cursor' });
    for (const r of made) await h.request('DELETE', `/v1/contact_rules/${r.id}`);
  });
});

describe('who may see and change rules', () => {
  it('gives an identity-scoped key the org-wide rules and its own identity\'s, read-only', async () => {
    const orgWide = (await createRule({ action: 'block', kind: 'domain', pattern: 'scope-a.test' })).body;
    const mine = (await createRule({ action: 'block', kind: 'domain', pattern: 'scope-b.test', identity_id: support })).body;
    const theirs = (await createRule({ action: 'block', kind: 'domain', pattern: 'scope-c.test', identity_id: sales })).body;
    const listed = (await h.request('GET', '/v1/contact_rules?limit=200', undefined, scoped)).body.data.map((r: any) => r.id);
    expect(listed).toEqual(expect.arrayContaining([orgWide.id, mine.id]));
    expect(listed).not.toContain(theirs.id);
    expect((await h.request('GET', `/v1/contact_rules/${theirs.id}`, undefined, scoped)).status).toBe(404);
    expect((await h.request('GET', `/v1/contact_rules/${mine.id}`, undefined, scoped)).status).toBe(200);
    expect((await h.request('GET', `/v1/contact_rules?identity_id=${sales}`, undefined, scoped)).body.code).toBe('forbidden_identity');

    const write = await createRule({ action: 'allow', kind: 'domain', pattern: 'x.test', identity_id: support }, scoped);
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('missing_permission');
    expect((await h.request('DELETE', `/v1/contact_rules/${mine.id}`, undefined, scoped)).body.code).toBe('missing_permission');

    const reader = await createApiKey(h.store.db, h.orgId, 'reader', { permissions: ['conversations:read'] });
    const res = await h.request('GET', '/v1/contact_rules', undefined, { authorization: `Bearer ${reader.key}` });
    expect(res.body).toMatchObject({ code: 'missing_permission' });
    expect(res.body.detail).toContain('contacts:read');
    for (const r of [orgWide, mine, theirs]) await h.request('DELETE', `/v1/contact_rules/${r.id}`);
  });

  it('deletes an identity\'s rules with the identity', async () => {
    const temp = (await h.request('POST', '/v1/identities', { handle: 'temp' })).body;
    const own = (await createRule({ action: 'block', kind: 'domain', pattern: 'temp.test', identity_id: temp.id })).body;
    expect((await h.request('DELETE', `/v1/identities/${temp.id}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/contact_rules/${own.id}`)).status).toBe(404);
  });

  it('hides another organization\'s rules (404) and keeps its own out of their list', async () => {
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const theirs = (await createRule({ action: 'block', kind: 'domain', pattern: 'foreign.test' }, other)).body;
    expect((await h.request('GET', `/v1/contact_rules/${theirs.id}`)).status).toBe(404);
    expect((await h.request('DELETE', `/v1/contact_rules/${theirs.id}`)).status).toBe(404);
    expect((await h.request('GET', '/v1/contact_rules?limit=200')).body.data.map((r: any) => r.id)).not.toContain(theirs.id);
    expect((await h.request('GET', `/v1/contact_rules/${theirs.id}`, undefined, other)).status).toBe(200);
    // Their block does not touch our mail.
    const res = await inbound(h, rawEmail({ from: 'someone@foreign.test', to: 'support@shop.test', messageId: 'foreign-1@foreign.test' }));
    const conv = (await h.request('GET', `/v1/conversations/${res.body.results[0].conversation_id}`)).body;
    expect(conv.is_blocked).toBe(false);
  });
});

describe('inbound mail from a blocked sender', () => {
  it('is stored and marked blocked, hidden by default, shown with is_blocked=true, never to a scoped key', async () => {
    const rule = (await createRule({ action: 'block', kind: 'domain', pattern: 'spam.test' })).body;
    const res = await inbound(h, rawEmail({ from: 'Bot <bot@mx.spam.test>', to: 'support@shop.test', subject: 'Win', messageId: 'win-1@spam.test' }));
    expect(res.status).toBe(201);
    expect(res.body.results[0].status).toBe('stored');
    const convId = res.body.results[0].conversation_id;

    const ids = async (query: string, headers?: Record<string, string>) =>
      (await h.request('GET', `/v1/conversations?limit=200${query}`, undefined, headers)).body.data.map((c: any) => c.id);
    expect(await ids('')).not.toContain(convId);
    expect(await ids('&is_blocked=false')).not.toContain(convId);
    expect(await ids('&is_blocked=true')).toEqual([convId]);
    const snap = (await h.request('GET', `/v1/conversations/${convId}`)).body;
    expect(snap).toMatchObject({ is_blocked: true, message_count: 1, counterpart: 'bot@mx.spam.test' });
    expect(snap.events[0].data.text).toContain('Hi there.');

    expect(await ids('', scoped)).not.toContain(convId);
    expect(await ids('&is_blocked=true', scoped)).toEqual([]);
    expect((await h.request('GET', `/v1/conversations/${convId}`, undefined, scoped)).status).toBe(404);
    expect((await h.request('GET', `/v1/conversations/${convId}/events`, undefined, scoped)).status).toBe(404);
    expect((await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'hi' }, scoped)).status).toBe(404);

    // The rule goes; the next message from the sender lifts the mark.
    await h.request('DELETE', `/v1/contact_rules/${rule.id}`);
    expect(await ids('&is_blocked=true')).toEqual([convId]);
    await inbound(h, rawEmail({ from: 'bot@mx.spam.test', to: 'support@shop.test', subject: 'Re: Win', messageId: 'win-2@spam.test', inReplyTo: 'win-1@spam.test' }));
    expect(await ids('')).toContain(convId);
    expect(await ids('', scoped)).toContain(convId);
  });

  it('marks a conversation when a blocked participant writes into it, and follows the precedence of rules', async () => {
    const first = await inbound(h, rawEmail({ from: 'ann@partner.test', to: 'support@shop.test', subject: 'Deal', messageId: 'deal-1@partner.test' }));
    const convId = first.body.results[0].conversation_id;
    const block = (await createRule({ action: 'block', kind: 'address', pattern: 'troll@partner.test' })).body;
    await inbound(h, rawEmail({ from: 'troll@partner.test', to: 'support@shop.test', subject: 'Re: Deal', messageId: 'deal-2@partner.test', inReplyTo: 'deal-1@partner.test' }));
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body).toMatchObject({ is_blocked: true, message_count: 2 });
    await h.request('DELETE', `/v1/contact_rules/${block.id}`);

    // Org-wide block of the domain, the support identity allows one address of it.
    const domain = (await createRule({ action: 'block', kind: 'domain', pattern: 'vendor.test' })).body;
    const allow = (await createRule({ action: 'allow', kind: 'address', pattern: 'rep@vendor.test', identity_id: support })).body;
    const blocked = async (from: string, to: string, id: string) => {
      const res = await inbound(h, rawEmail({ from, to, messageId: id }));
      return (await h.request('GET', `/v1/conversations/${res.body.results[0].conversation_id}`)).body.is_blocked;
    };
    expect(await blocked('rep@vendor.test', 'support@shop.test', 'v1@vendor.test')).toBe(false);
    expect(await blocked('rep@vendor.test', 'sales@shop.test', 'v2@vendor.test')).toBe(true);
    expect(await blocked('other@vendor.test', 'support@shop.test', 'v3@vendor.test')).toBe(true);
    expect(await blocked('other@sub.vendor.test', 'support@shop.test', 'v4@vendor.test')).toBe(true);
    expect(await blocked('other@notvendor.test', 'support@shop.test', 'v5@vendor.test')).toBe(false);
    for (const r of [domain, allow]) await h.request('DELETE', `/v1/contact_rules/${r.id}`);
  });
});

describe('sending to a blocked recipient', () => {
  it('refuses a first message with 403 recipient_blocked naming the field, and stores and sends nothing', async () => {
    const rule = (await createRule({ action: 'block', kind: 'domain', pattern: 'nosend.test', identity_id: support })).body;
    const before = await Promise.all([rows('messages'), rows('raw_messages'), rows('conversations')]);
    const to = await h.request('POST', '/v1/messages', { identity_id: support, to: 'Ann@NoSend.test', subject: 'Hi', text: 'Hello' });
    expect(to.status).toBe(403);
    expect(to.body).toMatchObject({ code: 'recipient_blocked', param: 'to' });
    expect(to.body.detail).toContain('ann@nosend.test');
    expect(to.body.fix).toContain(rule.id);
    const cc = await h.request('POST', '/v1/messages', { identity_id: support, to: 'fine@ok.test', cc: ['x@mail.nosend.test'], subject: 'Hi', text: 'Hello' });
    expect(cc.body).toMatchObject({ code: 'recipient_blocked', param: 'cc' });
    expect(await Promise.all([rows('messages'), rows('raw_messages'), rows('conversations')])).toEqual(before);
    expect((await h.request('GET', '/v1/conversations?with=ann@nosend.test&is_blocked=true')).body.data).toEqual([]);

    // The rule is the support identity's: sales may still write.
    const sent = await h.request('POST', '/v1/messages', { identity_id: sales, to: 'ann@nosend.test', subject: 'Hi', text: 'Hello' });
    expect(sent.status).toBe(202);
    await h.request('DELETE', `/v1/contact_rules/${rule.id}`);
  });

  it('refuses a reply by conversation id when the counterpart is blocked', async () => {
    const res = await inbound(h, rawEmail({ from: 'pest@pest.test', to: 'support@shop.test', subject: 'Again', messageId: 'pest-1@pest.test' }));
    const convId = res.body.results[0].conversation_id;
    const rule = (await createRule({ action: 'block', kind: 'address', pattern: 'pest@pest.test' })).body;
    const before = await rows('messages');
    const reply = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Stop.' });
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('recipient_blocked');
    expect(await rows('messages')).toBe(before);
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(1);
    await h.request('DELETE', `/v1/contact_rules/${rule.id}`);
    expect((await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Sorry.' })).status).toBe(202);
  });
});
