/**
 * Contacts through the API: the contacts mail creates, CRUD with profile enrichment,
 * one owner per address, the contact embedded in the conversation snapshot, opening a
 * conversation with a contact and replying in it, permissions and isolation.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let support: string;
let sales: string;
let scoped: Record<string, string>;
beforeAll(async () => {
  h = await harness();
  ({ identityId: support } = await identityWithMailbox(h, 'support@shop.test', 'support'));
  ({ identityId: sales } = await identityWithMailbox(h, 'sales@shop.test', 'sales'));
  scoped = { authorization: `Bearer ${(await createApiKey(h.store.db, h.orgId, 'support agent', { identityId: support })).key}` };
});
afterAll(async () => { await h.close(); });

const byEmail = async (email: string) => (await h.request('GET', `/v1/contacts?email=${encodeURIComponent(email)}`)).body.data;
const create = (body: unknown, headers?: Record<string, string>) => h.request('POST', '/v1/contacts', body, headers);
const snapshot = async (convId: string) => (await h.request('GET', `/v1/conversations/${convId}`)).body;

describe('contacts made by mail', () => {
  it('creates one contact per new address, embeds it in the snapshot, and shows profile changes there', async () => {
    const res = await inbound(h, rawEmail({ from: 'Ann Lee <Ann@Buyer.test>', to: 'support@shop.test', subject: 'Quote', messageId: 'q1@buyer.test' }));
    const convId = res.body.results[0].conversation_id;
    const [ann, ...more] = await byEmail('ANN@buyer.test');
    expect(more).toEqual([]);
    expect(ann).toMatchObject({
      display_name: 'Ann Lee', company: null, position: null, headline: null, avatar_url: null, attributes: {},
      addresses: [{ channel: 'email', address: 'ann@buyer.test' }],
    });
    expect(ann.id).toMatch(/^ct_/);
    const snap = await snapshot(convId);
    expect(snap.contact_id).toBe(ann.id);
    expect(snap.contact).toEqual(ann);

    const patched = await h.request('PATCH', `/v1/contacts/${ann.id}`, {
      company: 'Buyer Ltd', position: 'CTO', headline: 'Buys things', avatar_url: 'https://cdn.buyer.test/ann.png',
      attributes: { tier: 'gold', seats: 12, trial: false, note: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.updated_at >= ann.updated_at).toBe(true);
    expect((await snapshot(convId)).contact).toEqual(patched.body);
    expect(patched.body).toMatchObject({ display_name: 'Ann Lee', company: 'Buyer Ltd', attributes: { tier: 'gold', seats: 12, trial: false, note: null } });

    // Attributes are replaced as a whole; fields left out stay.
    const again = await h.request('PATCH', `/v1/contacts/${ann.id}`, { attributes: { tier: 'silver' }, company: null });
    expect(again.body).toMatchObject({ company: null, position: 'CTO', attributes: { tier: 'silver' } });
  });

  it('has null as the contact of a conversation without one', async () => {
    const res = await inbound(h, rawEmail({ from: 'bo@buyer.test', to: 'support@shop.test', messageId: 'bo1@buyer.test' }));
    const convId = res.body.results[0].conversation_id;
    const [bo] = await byEmail('bo@buyer.test');
    expect((await h.request('DELETE', `/v1/contacts/${bo.id}`)).status).toBe(204);
    const snap = await snapshot(convId);
    expect(snap).toMatchObject({ contact_id: null, contact: null });
    // Mail from the address again makes a new contact (the conversation keeps none until then).
    await inbound(h, rawEmail({ from: 'bo@buyer.test', to: 'support@shop.test', messageId: 'bo2@buyer.test', inReplyTo: 'bo1@buyer.test' }));
    const [bo2] = await byEmail('bo@buyer.test');
    expect(bo2.id).not.toBe(bo.id);
  });
});

describe('contact CRUD', () => {
  it('creates a contact with a full profile and reads it back', async () => {
    const res = await create({
      display_name: 'Cy', company: 'Cyco', position: 'Buyer', headline: 'Hi', avatar_url: 'http://img.test/cy.jpg',
      attributes: { plan: 'pro', 'lifetime value': 1234.5, vip: true }, addresses: [{ channel: 'email', address: 'Cy@Cyco.test' }, { address: 'cy@cyco.test' }],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ display_name: 'Cy', addresses: [{ channel: 'email', address: 'cy@cyco.test' }], attributes: { plan: 'pro', 'lifetime value': 1234.5, vip: true } });
    expect(res.body.created_at).toBe(res.body.updated_at);
    expect((await h.request('GET', `/v1/contacts/${res.body.id}`)).body).toEqual(res.body);
    const empty = await create({});
    expect(empty.status).toBe(201);
    expect(empty.body).toMatchObject({ display_name: null, attributes: {}, addresses: [] });
  });

  it('refuses bad profile fields with validation_failed naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ avatar_url: 'ftp://img.test/a.png' }, 'avatar_url'],
      [{ avatar_url: 'javascript:alert(1)' }, 'avatar_url'],
      [{ avatar_url: 'not a url' }, 'avatar_url'],
      [{ attributes: { nested: { a: 1 } } }, 'attributes.nested'],
      [{ attributes: { list: [1] } }, 'attributes.list'],
      [{ attributes: { long: 'x'.repeat(1001) } }, 'attributes.long'],
      [{ attributes: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) }, 'attributes'],
      [{ attributes: { ['k'.repeat(65)]: 1 } }, 'attributes'],
      [{ attributes: { '': 1 } }, 'attributes'],
      [{ attributes: 'x' }, 'attributes'],
      [{ addresses: [{ address: 'not-an-email' }] }, 'addresses.0.address'],
      [{ addresses: [{ channel: 'sms', address: 'a@b.test' }] }, 'addresses.0.address'],
      [{ addresses: [{ channel: 'fax', address: '+14155550100' }] }, 'addresses.0.channel'],
      [{ display_name: 'x'.repeat(201) }, 'display_name'],
      [{ nickname: 'x' }, 'nickname'],
    ];
    for (const [body, param] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.param, JSON.stringify(body).slice(0, 80)).toBe(param);
    }
    const [some] = (await h.request('GET', '/v1/contacts?limit=1')).body.data;
    const none = await h.request('PATCH', `/v1/contacts/${some.id}`, {});
    expect(none.status).toBe(400);
    expect(none.body.code).toBe('no_valid_fields');
  });

  it('round-trips any valid attribute object exactly', async () => {
    const key = fc.string({ minLength: 1, maxLength: 64 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k) && !k.includes('\u0000'));
    const value = fc.oneof(
      fc.string({ maxLength: 1000 }).filter((s) => !s.includes('\u0000')),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
      fc.integer(), fc.boolean(), fc.constant(null),
    );
    await fc.assert(fc.asyncProperty(fc.dictionary(key, value, { maxKeys: 50 }), async (attributes) => {
      const res = await create({ attributes });
      expect(res.status).toBe(201);
      expect((await h.request('GET', `/v1/contacts/${res.body.id}`)).body.attributes).toEqual(attributes);
    }), { numRuns: 25 });
  });

  it('gives each address one owner: 409 address_in_use on create and patch, free again once removed', async () => {
    const dee = (await create({ display_name: 'Dee', addresses: [{ address: 'dee@d.test' }, { address: 'dee2@d.test' }] })).body;
    const clash = await create({ display_name: 'Impostor', addresses: [{ address: 'new@d.test' }, { address: 'DEE@d.test' }] });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ code: 'address_in_use', param: 'addresses' });
    expect(clash.body.detail).toContain(dee.id);
    expect(await byEmail('new@d.test')).toEqual([]); // nothing of the refused create is kept

    const eve = (await create({ display_name: 'Eve' })).body;
    const patchClash = await h.request('PATCH', `/v1/contacts/${eve.id}`, { addresses: [{ address: 'dee2@d.test' }], display_name: 'Eve 2' });
    expect(patchClash.status).toBe(409);
    expect((await h.request('GET', `/v1/contacts/${eve.id}`)).body.display_name).toBe('Eve'); // all or nothing

    // Dee gives dee2@ up; Eve takes it. Keeping an own address is no clash.
    const dropped = await h.request('PATCH', `/v1/contacts/${dee.id}`, { addresses: [{ address: 'dee@d.test' }] });
    expect(dropped.body.addresses).toEqual([{ channel: 'email', address: 'dee@d.test' }]);
    const taken = await h.request('PATCH', `/v1/contacts/${eve.id}`, { addresses: [{ address: 'dee2@d.test' }, { address: 'eve@d.test' }] });
    expect(taken.status).toBe(200);
    expect(taken.body.addresses.map((a: any) => a.address)).toEqual(['dee2@d.test', 'eve@d.test']);
    expect((await byEmail('dee2@d.test')).map((c: any) => c.id)).toEqual([eve.id]);
  });

  it('moves conversations with an address when it changes contact', async () => {
    const res = await inbound(h, rawEmail({ from: 'Fox <fox@f.test>', to: 'support@shop.test', messageId: 'fox1@f.test' }));
    const convId = res.body.results[0].conversation_id;
    const [auto] = await byEmail('fox@f.test');
    await h.request('PATCH', `/v1/contacts/${auto.id}`, { addresses: [] });
    expect(await snapshot(convId)).toMatchObject({ contact_id: null, contact: null });
    const curated = (await create({ display_name: 'Fox (curated)', company: 'Fox & Co', addresses: [{ address: 'fox@f.test' }] })).body;
    const snap = await snapshot(convId);
    expect(snap.contact_id).toBe(curated.id);
    expect(snap.contact.company).toBe('Fox & Co');
    expect((await h.request('GET', `/v1/conversations?with=fox@f.test`)).body.data[0].contact_id).toBe(curated.id);
    // A later message keeps the curated contact.
    await inbound(h, rawEmail({ from: 'fox@f.test', to: 'support@shop.test', messageId: 'fox2@f.test' }));
    expect((await byEmail('fox@f.test')).map((c: any) => c.id)).toEqual([curated.id]);
  });

  it('deletes a contact: 204, then 404, its addresses free', async () => {
    const gus = (await create({ display_name: 'Gus', addresses: [{ address: 'gus@g.test' }] })).body;
    expect((await h.request('DELETE', `/v1/contacts/${gus.id}`)).status).toBe(204);
    expect((await h.request('GET', `/v1/contacts/${gus.id}`)).body.code).toBe('not_found');
    expect((await h.request('PATCH', `/v1/contacts/${gus.id}`, { company: 'x' })).status).toBe(404);
    expect((await h.request('DELETE', `/v1/contacts/${gus.id}`)).status).toBe(404);
    expect((await create({ addresses: [{ address: 'gus@g.test' }] })).status).toBe(201);
    for (const bad of ['ct_nope', 'conv_01h455vb4pex5vsknk084sn02q', 'x'.repeat(100)]) {
      expect((await h.request('GET', `/v1/contacts/${bad}`)).status).toBe(404);
    }
  });
});

describe('contact list', () => {
  it('pages by id, finds by exact address and by text in name, company or address', async () => {
    const { apiKey } = await (await import('../../src/services/tenants.js')).createOrganization(h.store, 'listing');
    const auth = { authorization: `Bearer ${apiKey.key}` };
    const made: any[] = [];
    for (const [name, company, address] of [
      ['Hal Jordan', 'Ferris Air', 'hal@ferris.test'], ['Carol', 'FERRIS Air', 'carol@c.test'], ['Kyle', null, 'kyle@ferrisair.test'],
      ['Guy', 'Gardner 100%', 'guy@g.test'], ['John', 'Stewart_Co', 'john@j.test'],
    ] as const) {
      made.push((await h.request('POST', '/v1/contacts', { display_name: name, company, addresses: [{ address }] }, auth)).body);
    }
    for (const limit of [1, 2, 3, 5, 200]) {
      const seen: any[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await h.request('GET', `/v1/contacts?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth);
        seen.push(...res.body.data);
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(seen.map((c) => c.id)).toEqual(made.map((c) => c.id));
    }
    const names = async (query: string) =>
      (await h.request('GET', `/v1/contacts?${query}`, undefined, auth)).body.data.map((c: any) => c.display_name);
    expect(await names('email=Carol@C.test')).toEqual(['Carol']);
    expect(await names('email=nobody@c.test')).toEqual([]);
    expect(await names('q=ferris')).toEqual(['Hal Jordan', 'Carol', 'Kyle']);
    expect(await names('q=JORDAN')).toEqual(['Hal Jordan']);
    expect(await names('q=100%25')).toEqual(['Guy']);
    expect(await names('q=%25')).toEqual(['Guy']);
    expect(await names('q=_')).toEqual(['John']);
    expect(await names('q=ferris&email=kyle@ferrisair.test')).toEqual(['Kyle']);
    expect((await h.request('GET', '/v1/contacts?q=', undefined, auth)).status).toBe(400);
  });
});

describe('permissions and isolation', () => {
  it('lets an identity-scoped key read contacts but not change them', async () => {
    const res = await h.request('GET', '/v1/contacts', undefined, scoped);
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeGreaterThan(0);
    const one = res.body.data[0];
    expect((await h.request('GET', `/v1/contacts/${one.id}`, undefined, scoped)).status).toBe(200);
    for (const [method, url, body] of [
      ['POST', '/v1/contacts', { display_name: 'x' }], ['PATCH', `/v1/contacts/${one.id}`, { company: 'x' }], ['DELETE', `/v1/contacts/${one.id}`, undefined],
    ] as const) {
      const r = await h.request(method, url, body, scoped);
      expect(r.status, `${method} ${url}`).toBe(403);
      expect(r.body.code).toBe('missing_permission');
    }
    const noRead = await createApiKey(h.store.db, h.orgId, 'no contacts', { permissions: ['conversations:read'] });
    expect((await h.request('GET', '/v1/contacts', undefined, { authorization: `Bearer ${noRead.key}` })).body.code).toBe('missing_permission');
  });

  it('hides another organization\'s contacts, and lets two organizations hold the same address', async () => {
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const theirs = (await h.request('POST', '/v1/contacts', { display_name: 'Theirs', addresses: [{ address: 'shared@both.test' }] }, other)).body;
    const ours = await create({ display_name: 'Ours', addresses: [{ address: 'shared@both.test' }] });
    expect(ours.status).toBe(201);
    for (const [method, url, body] of [
      ['GET', `/v1/contacts/${theirs.id}`, undefined], ['PATCH', `/v1/contacts/${theirs.id}`, { company: 'x' }],
      ['DELETE', `/v1/contacts/${theirs.id}`, undefined], ['POST', `/v1/contacts/${theirs.id}/conversations`, { identity_id: support }],
    ] as const) {
      const r = await h.request(method, url, body);
      expect(r.status, `${method} ${url}`).toBe(404);
      expect(r.body.code).toBe('not_found');
    }
    expect((await byEmail('shared@both.test')).map((c: any) => c.id)).toEqual([ours.body.id]);
    expect((await h.request('GET', '/v1/contacts/' + theirs.id, undefined, other)).body.display_name).toBe('Theirs');
  });
});

describe('POST /v1/contacts/{id}/conversations', () => {
  it('opens a conversation without events (201), returns it again (200), and a reply goes to the contact with the subject given', async () => {
    const ivy = (await create({ display_name: 'Ivy', addresses: [{ address: 'ivy@i.test' }] })).body;
    const opened = await h.request('POST', `/v1/contacts/${ivy.id}/conversations`, { identity_id: support, subject: 'Your trial' });
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({
      identity_id: support, counterpart: 'ivy@i.test', contact_id: ivy.id, subject: 'Your trial', message_count: 0, latest_message: null,
    });
    const convId = opened.body.id;
    const snap = await snapshot(convId);
    expect(snap.events).toEqual([]);
    expect(snap.contact.id).toBe(ivy.id);
    expect((await h.request('GET', '/v1/conversations?with=ivy@i.test')).body.data.map((c: any) => c.id)).toEqual([convId]);

    const again = await h.request('POST', `/v1/contacts/${ivy.id}/conversations`, { identity_id: support, subject: 'Other' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(convId);

    const sent = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Welcome aboard.' });
    expect(sent.status).toBe(202);
    expect(sent.body.message).toMatchObject({ subject: 'Your trial', to: [{ address: 'ivy@i.test', name: null }], cc: [], direction: 'outbound' });
    expect(sent.body.message.headers).toMatchObject({ in_reply_to: null, references: [] });
    const second = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'Any questions?' });
    expect(second.body.message.subject).toBe('Re: Your trial');
    expect(second.body.message.headers.in_reply_to).toBe(sent.body.message.headers.message_id);

    // Another identity gets its own; an archived one is not reopened.
    const forSales = await h.request('POST', `/v1/contacts/${ivy.id}/conversations`, { identity_id: sales });
    expect(forSales.status).toBe(201);
    expect(forSales.body.subject).toBeNull();
    await h.request('POST', `/v1/conversations/${convId}/archive`, { archived: true });
    const fresh = await h.request('POST', `/v1/contacts/${ivy.id}/conversations`, { identity_id: support });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(convId);
  });

  it('takes a chosen address of the contact, and finds a conversation mail started', async () => {
    const res = await inbound(h, rawEmail({ from: 'jo@work.test', to: 'support@shop.test', subject: 'Hello', messageId: 'jo1@work.test' }));
    const [jo] = await byEmail('jo@work.test');
    await h.request('PATCH', `/v1/contacts/${jo.id}`, { addresses: [{ address: 'jo@work.test' }, { address: 'a-jo@home.test' }] });
    const found = await h.request('POST', `/v1/contacts/${jo.id}/conversations`, { identity_id: support, address: 'JO@work.test' });
    expect(found.status).toBe(200);
    expect(found.body.id).toBe(res.body.results[0].conversation_id);
    const home = await h.request('POST', `/v1/contacts/${jo.id}/conversations`, { identity_id: support });
    expect(home.status).toBe(201);
    expect(home.body.counterpart).toBe('a-jo@home.test'); // the first address alphabetically
    const wrong = await h.request('POST', `/v1/contacts/${jo.id}/conversations`, { identity_id: support, address: 'ivy@i.test' });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ code: 'validation_failed', param: 'address' });
  });

  it('holds a scoped key to its identity', async () => {
    const kai = (await create({ display_name: 'Kai', addresses: [{ address: 'kai@k.test' }] })).body;
    const own = await h.request('POST', `/v1/contacts/${kai.id}/conversations`, undefined, scoped);
    expect(own.status).toBe(201);
    expect(own.body.identity_id).toBe(support);
    const named = await h.request('POST', `/v1/contacts/${kai.id}/conversations`, { identity_id: support }, scoped);
    expect(named.body.id).toBe(own.body.id);
    const other = await h.request('POST', `/v1/contacts/${kai.id}/conversations`, { identity_id: sales }, scoped);
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'forbidden_identity', param: 'identity_id' });
    const reader = await createApiKey(h.store.db, h.orgId, 'reader', { permissions: ['conversations:read', 'contacts:read'] });
    const denied = await h.request('POST', `/v1/contacts/${kai.id}/conversations`, { identity_id: support }, { authorization: `Bearer ${reader.key}` });
    expect(denied.body).toMatchObject({ code: 'missing_permission' });
  });

  it('answers each impossible request with its own code', async () => {
    const lou = (await create({ display_name: 'Lou', addresses: [{ address: 'lou@l.test' }] })).body;
    const open = (body: unknown, id = lou.id) => h.request('POST', `/v1/contacts/${id}/conversations`, body);
    expect((await open({})).body).toMatchObject({ code: 'validation_failed', param: 'identity_id' });
    expect((await open({ identity_id: 'idn_01h455vb4pex5vsknk084sn02q' })).body).toMatchObject({ code: 'not_found', param: 'identity_id' });
    expect((await open({ identity_id: 'bogus' })).body).toMatchObject({ code: 'not_found', param: 'identity_id' });
    expect((await open({ identity_id: support }, 'ct_nope')).body).toMatchObject({ code: 'not_found', param: null });
    expect((await open({ identity_id: support, subject: '' })).body).toMatchObject({ code: 'validation_failed', param: 'subject' });

    const bare = (await create({ display_name: 'No address' })).body;
    const noAddress = await open({ identity_id: support }, bare.id);
    expect(noAddress.status).toBe(422);
    expect(noAddress.body.code).toBe('no_recipient');

    const mute = (await h.request('POST', '/v1/identities', { handle: 'mute' })).body;
    const noSender = await open({ identity_id: mute.id });
    expect(noSender.status).toBe(422);
    expect(noSender.body).toMatchObject({ code: 'no_sender', param: 'identity_id' });

    const rule = (await h.request('POST', '/v1/contact_rules', { action: 'block', kind: 'address', pattern: 'lou@l.test', identity_id: support })).body;
    const blocked = await open({ identity_id: support });
    expect(blocked.status).toBe(403);
    expect(blocked.body.code).toBe('recipient_blocked');
    await h.request('DELETE', `/v1/contact_rules/${rule.id}`);
    expect((await open({ identity_id: support })).status).toBe(201);
  });
});
