/**
 * Identities and mailboxes CRUD (SPEC section 2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IN_PROGRESS_TTL_MS } from '../../src/api/idempotency.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
beforeAll(async () => { h = await harness(); });
afterAll(async () => { await h.close(); });

describe('identities', () => {
  it('creates, reads, renames and lists', async () => {
    const created = await h.request('POST', '/v1/identities', { handle: 'sales', display_name: 'Sales team' });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^idn_[0-9a-z]{26}$/);
    expect(created.body).toMatchObject({ handle: 'sales', display_name: 'Sales team' });
    const got = await h.request('GET', `/v1/identities/${created.body.id}`);
    expect(got.body).toEqual(created.body);
    const renamed = await h.request('PATCH', `/v1/identities/${created.body.id}`, { display_name: null });
    expect(renamed.status).toBe(200);
    expect(renamed.body.display_name).toBeNull();
    expect(renamed.body.handle).toBe('sales');
    const list = await h.request('GET', '/v1/identities');
    expect(list.body.data.map((i: any) => i.id)).toContain(created.body.id);
  });

  it('keeps handles unique per organization', async () => {
    await h.request('POST', '/v1/identities', { handle: 'dup' });
    const again = await h.request('POST', '/v1/identities', { handle: 'dup' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('handle_in_use');
    const other = await h.otherOrg();
    const elsewhere = await h.request('POST', '/v1/identities', { handle: 'dup' }, { authorization: `Bearer ${other}` });
    expect(elsewhere.status).toBe(201);
  });

  it('refuses an empty patch with no_valid_fields', async () => {
    const { body } = await h.request('POST', '/v1/identities', { handle: 'nothing' });
    const res = await h.request('PATCH', `/v1/identities/${body.id}`, {});
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('no_valid_fields');
  });

  it('pages through identities with a cursor, each once', async () => {
    const org = await h.otherOrg();
    const auth = { authorization: `Bearer ${org}` };
    const made = new Set<string>();
    for (let i = 0; i < 7; i++) made.add((await h.request('POST', '/v1/identities', { handle: `p${i}` }, auth)).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/v1/identities?limit=3${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth);
      expect(res.body.data.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.data.map((i: any) => i.id));
      expect(res.body.has_more).toBe(res.body.next_cursor !== null);
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.length).toBe(7);
    expect(new Set(seen)).toEqual(made);
  });

  it('deletes an identity with its mailboxes and conversations', async () => {
    const { identityId, mailboxId } = await identityWithMailbox(h, 'gone@acme.test', 'gone');
    await inbound(h, rawEmail({ from: 'a@example.org', to: 'gone@acme.test', messageId: 'gone-1@example.org' }));
    expect((await h.request('GET', `/v1/conversations?identity_id=${identityId}`)).body.data).toHaveLength(1);
    expect((await h.request('DELETE', `/v1/identities/${identityId}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/identities/${identityId}`)).status).toBe(404);
    expect((await h.request('GET', `/v1/mailboxes/${mailboxId}`)).status).toBe(404);
    // Filtering by the deleted identity names it as unknown (404), and its conversations are gone.
    expect((await h.request('GET', `/v1/conversations?identity_id=${identityId}`)).body).toMatchObject({ code: 'not_found', param: 'identity_id' });
    expect((await h.request('GET', '/v1/conversations?limit=200')).body.data.filter((c: { identity_id: string }) => c.identity_id === identityId)).toEqual([]);
    // The address is free again and mail to it is no longer accepted meanwhile.
    const res = await inbound(h, rawEmail({ from: 'a@example.org', to: 'gone@acme.test' }));
    expect(res.body.code).toBe('unknown_recipient');
  });
});

describe('mailboxes', () => {
  it('creates a mailbox, lower-cases its address and never returns the relay password', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'relay' })).body;
    const res = await h.request('POST', '/v1/mailboxes', {
      identity_id: idn.id, address: 'Relay@Acme.TEST',
      smtp: { host: 'smtp.acme.test', port: 587, user: 'relay', password: 's3cret-pw' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ identity_id: idn.id, channel: 'email', address: 'relay@acme.test' });
    expect(res.body.smtp).toEqual({ host: 'smtp.acme.test', port: 587, secure: false, user: 'relay', has_password: true });
    expect(JSON.stringify(res.body)).not.toContain('s3cret-pw');
    const cleared = await h.request('PATCH', `/v1/mailboxes/${res.body.id}`, { smtp: null });
    expect(cleared.body.smtp).toBeNull();
    const listed = await h.request('GET', `/v1/mailboxes?identity_id=${idn.id}`);
    expect(listed.body.data.map((m: any) => m.id)).toEqual([res.body.id]);
  });

  it('routes each address to one mailbox, across organizations too', async () => {
    await identityWithMailbox(h, 'taken@acme.test', 'taken');
    const idn = (await h.request('POST', '/v1/identities', { handle: 'taker' })).body;
    const again = await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'TAKEN@acme.test' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('address_in_use');
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const otherIdn = (await h.request('POST', '/v1/identities', { handle: 'x' }, other)).body;
    const foreign = await h.request('POST', '/v1/mailboxes', { identity_id: otherIdn.id, address: 'taken@acme.test' }, other);
    expect(foreign.status).toBe(409);
  });

  it('rejects a bad address and a foreign identity', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'bad' })).body;
    const bad = await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'not an address' });
    expect(bad.status).toBe(400);
    expect(bad.body.param).toBe('address');
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const foreign = await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'f@acme.test' }, other);
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('not_found');
  });

  it('replays a create under the same Idempotency-Key and refuses the key for another body', async () => {
    const key = { 'idempotency-key': 'create-ident-1' };
    const first = await h.request('POST', '/v1/identities', { handle: 'idem' }, key);
    const second = await h.request('POST', '/v1/identities', { handle: 'idem' }, key);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    const clash = await h.request('POST', '/v1/identities', { handle: 'idem2' }, key);
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('idempotency_conflict');
  });

  it('lets one of several simultaneous first requests with one key run, never a 500', async () => {
    const key = { 'idempotency-key': 'race-1' };
    const answers = await Promise.all(Array.from({ length: 20 }, () => h.request('POST', '/v1/identities', { handle: 'racer' }, key)));
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => a.body.id)).size).toBe(1); // replays carry the same identity
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect(a.status).toBe(409);
      expect(a.body.code).toBe('idempotency_conflict');
    }
    const handles = (await h.request('GET', '/v1/identities?limit=200')).body.data.filter((i: any) => i.handle === 'racer');
    expect(handles).toHaveLength(1);
  });

  it('takes over a key whose first request never answered, once it is older than a request can run', async () => {
    const claim = async (key: string, minutesAgo: number) => h.store.db.insertInto('idempotency_keys').values({
      org_id: h.orgId, key, route: 'POST /v1/identities', request_hash: 'from a process that died',
      status_code: null, response: null, created_at: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
    }).execute();
    await claim('abandoned-1', IN_PROGRESS_TTL_MS / 60_000 + 1);
    const taken = await h.request('POST', '/v1/identities', { handle: 'phoenix' }, { 'idempotency-key': 'abandoned-1' });
    expect(taken.status).toBe(201);
    await claim('running-1', 1);
    const waiting = await h.request('POST', '/v1/identities', { handle: 'patient' }, { 'idempotency-key': 'running-1' });
    expect(waiting.status).toBe(409);
    expect(waiting.body.code).toBe('idempotency_conflict'); // still held: not taken over
  });
});

