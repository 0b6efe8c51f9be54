/**
 * AI suggestions through the API: an agent drafts, a human sends (edited or not) or
 * dismisses; a plain reply while a draft is pending answers it; every answered draft
 * leaves a training pair, exported as JSON pages or JSON Lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/tenants.js';
import type { Permission } from '../../src/services/access.js';
import { freePort, harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let n = 0;

beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'desk@shop.test', 'desk');
});
afterAll(async () => { await h.close(); });

/** A new conversation of `desk@shop.test` (or `to`), opened by an inbound message. */
async function conversation(to = 'desk@shop.test'): Promise<string> {
  n += 1;
  const res = await inbound(h, rawEmail({ from: `customer${n}@buyer.test`, to, subject: `Question ${n}`, messageId: `q${n}@buyer.test` }));
  expect(res.status).toBe(201);
  return res.body.results[0].conversation_id;
}

const suggest = (convId: string, body: unknown, headers?: Record<string, string>) =>
  h.request('POST', `/v1/conversations/${convId}/suggestions`, body, headers);
const send = (convId: string, sid: string, body?: unknown, headers?: Record<string, string>) =>
  h.request('POST', `/v1/conversations/${convId}/suggestions/${sid}/send`, body, headers);
const dismiss = (convId: string, sid: string, headers?: Record<string, string>) =>
  h.request('POST', `/v1/conversations/${convId}/suggestions/${sid}/dismiss`, undefined, headers);
const timeline = async (convId: string) => (await h.request('GET', `/v1/conversations/${convId}/events?limit=200`)).body.data as any[];
const pairsOf = async (convId: string, headers?: Record<string, string>) =>
  (await h.request('GET', `/v1/training_pairs?conversation_id=${convId}&limit=200`, undefined, headers)).body.data as any[];

/** The key's id, from the `sb_<key id>_<secret>` form. */
const keyIdOf = (key: string) => key.split('_').slice(1, 3).join('_');

async function keyWith(grant: { identityId?: string; memberId?: string; permissions?: Permission[] }): Promise<Record<string, string>> {
  const { key } = await createApiKey(h.store.db, h.orgId, 'test key', grant);
  return { authorization: `Bearer ${key}` };
}

describe('proposing a suggestion', () => {
  it('stores the draft with its provenance, appends suggestion_created and lists it', async () => {
    const convId = await conversation();
    const res = await suggest(convId, { text: 'Your order ships Monday.', model: 'gpt-x', agent: 'support-bot' });
    expect(res.status).toBe(201);
    const s = res.body;
    expect(s).toEqual({
      id: expect.stringMatching(/^sug_/), conversation_id: convId, status: 'pending', text: 'Your order ships Monday.',
      model: 'gpt-x', agent: 'support-bot', sent_message_id: null, sent_text: null, edited: null,
      created_at: expect.any(String), updated_at: s.created_at,
    });
    const event = (await timeline(convId)).at(-1);
    expect(event).toMatchObject({
      type: 'suggestion_created', conversation_id: convId,
      data: { suggestion_id: s.id, text: 'Your order ships Monday.', model: 'gpt-x', agent: 'support-bot' },
    });
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body).toEqual(s);
    const list = (await h.request('GET', `/v1/conversations/${convId}/suggestions`)).body;
    expect(list).toEqual({ data: [s], next_cursor: null, has_more: false });
    // Provenance is optional.
    const bare = await suggest(convId, { text: 'Hi' });
    expect(bare.body).toMatchObject({ model: null, agent: null, status: 'pending' });
  });

  it('refuses a bad draft with 400 validation_failed', async () => {
    const convId = await conversation();
    for (const body of [{}, { text: '' }, { text: 'x'.repeat(100_001) }, { text: 5 }, { text: 'a', model: '' }, { text: 'a', model: 'm'.repeat(201) }, { text: 'a', extra: 1 }]) {
      const res = await suggest(convId, body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    expect((await suggest(convId, { text: 'x'.repeat(100_000) })).status).toBe(201);
  });

  it('answers 404 for an unknown or malformed conversation or suggestion id', async () => {
    const convId = await conversation();
    const other = await conversation();
    const s = (await suggest(other, { text: 'elsewhere' })).body;
    expect((await suggest('conv_01h455vb4pex5vsknk084sn02q', { text: 'a' })).status).toBe(404);
    expect((await suggest('nope', { text: 'a' })).status).toBe(404);
    for (const sid of ['nope', 'sug_01h455vb4pex5vsknk084sn02q', s.id]) {
      // A suggestion is reached only through its own conversation.
      for (const res of [
        await h.request('GET', `/v1/conversations/${convId}/suggestions/${sid}`), await send(convId, sid), await dismiss(convId, sid),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('not_found');
      }
    }
    expect((await h.request('GET', `/v1/conversations/${other}/suggestions/${s.id}`)).body.status).toBe('pending');
  });

  it('pages a conversation\'s suggestions newest first and filters by status', async () => {
    const convId = await conversation();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await suggest(convId, { text: `draft ${i}` })).body.id);
    await dismiss(convId, ids[1]!);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = (await h.request('GET', `/v1/conversations/${convId}/suggestions?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
      seen.push(...res.data.map((s: any) => s.id));
      cursor = res.next_cursor;
      expect(res.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const pending = (await h.request('GET', `/v1/conversations/${convId}/suggestions?status=pending`)).body.data.map((s: any) => s.id);
    expect(pending).toEqual([ids[4], ids[3], ids[2], ids[0]]);
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?status=dismissed`)).body.data.map((s: any) => s.id)).toEqual([ids[1]]);
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?status=bogus`)).body.code).toBe('validation_failed');
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?cursor=xyz`)).body.code).toBe('validation_failed');
  });
});

describe('sending a suggestion', () => {
  it('sends the draft as a reply, marks it sent (not edited) and records a training pair', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'Refund issued.', model: 'm1', agent: 'a1' })).body;
    const res = await send(convId, s.id);
    expect(res.status).toBe(201);
    expect(res.body.conversation_id).toBe(convId);
    expect(res.body.message).toMatchObject({ direction: 'outbound', status: 'captured', text: 'Refund issued.', subject: `Re: Question ${n}` });
    expect(res.body.suggestion).toMatchObject({
      id: s.id, status: 'sent', sent_message_id: res.body.message.id, sent_text: 'Refund issued.', edited: false,
    });
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body).toEqual(res.body.suggestion);

    const events = await timeline(convId);
    expect(events.map((e) => e.type)).toEqual(['message', 'suggestion_created', 'message', 'suggestion_sent']);
    expect(events.at(-1).data).toEqual({
      suggestion_id: s.id, text: 'Refund issued.', edited: false, message_id: res.body.message.id,
      by: { member_id: null, key_id: keyIdOf(h.key) },
    });
    expect(await pairsOf(convId)).toEqual([{
      id: expect.stringMatching(/^tp_/), conversation_id: convId, suggestion_id: s.id, message_id: res.body.message.id,
      draft: 'Refund issued.', sent_text: 'Refund issued.', edited: false, model: 'm1', agent: 'a1',
      sent_by: { member_id: null, key_id: keyIdOf(h.key) }, created_at: expect.any(String),
    }]);
    const snap = (await h.request('GET', `/v1/conversations/${convId}`)).body;
    expect(snap.latest_message).toMatchObject({ direction: 'outbound', text: 'Refund issued.' });
  });

  it('sends the edited text and records who sent it, edited', async () => {
    const memberId = 'mem_01h455vb4pex5vsknk084sn02q';
    await h.store.db.insertInto('members').values({
      id: memberId, org_id: h.orgId, email: 'sam@shop.test', name: 'Sam', role: 'agent', created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
    }).execute();
    const sam = await keyWith({ memberId });
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'We will look into it.' })).body;
    const res = await send(convId, s.id, { text: 'We refunded you today.' }, sam);
    expect(res.status).toBe(201);
    expect(res.body.message.text).toBe('We refunded you today.');
    expect(res.body.suggestion).toMatchObject({ status: 'sent', text: 'We will look into it.', sent_text: 'We refunded you today.', edited: true });
    const samKey = sam.authorization!.slice('Bearer '.length);
    expect((await timeline(convId)).at(-1)).toMatchObject({
      type: 'suggestion_sent', data: { edited: true, text: 'We refunded you today.', by: { member_id: memberId, key_id: keyIdOf(samKey) } },
    });
    expect(await pairsOf(convId)).toEqual([expect.objectContaining({
      draft: 'We will look into it.', sent_text: 'We refunded you today.', edited: true, sent_by: { member_id: memberId, key_id: keyIdOf(samKey) },
    })]);
    for (const body of [{ text: '' }, { text: 7 }, { html: '<p>x</p>' }]) {
      const other = (await suggest(convId, { text: 'd' })).body;
      expect((await send(convId, other.id, body)).body.code).toBe('validation_failed');
    }
  });

  it('refuses a second send, a send after dismissal and a dismissal after sending with 409 suggestion_not_pending', async () => {
    const convId = await conversation();
    const a = (await suggest(convId, { text: 'first' })).body;
    expect((await send(convId, a.id)).status).toBe(201);
    const again = await send(convId, a.id, { text: 'again' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'suggestion_not_pending', status: 409 });
    expect(again.body.detail).toContain('already sent');
    expect((await dismiss(convId, a.id)).body.code).toBe('suggestion_not_pending');

    const b = (await suggest(convId, { text: 'second' })).body;
    const dismissed = await dismiss(convId, b.id);
    expect(dismissed.status).toBe(200);
    expect(dismissed.body).toMatchObject({ id: b.id, status: 'dismissed', sent_message_id: null, edited: null });
    expect((await timeline(convId)).at(-1)).toMatchObject({
      type: 'suggestion_dismissed', data: { suggestion_id: b.id, by: { member_id: null, key_id: keyIdOf(h.key) } },
    });
    const late = await send(convId, b.id);
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain('already dismissed');
    expect((await dismiss(convId, b.id)).body.code).toBe('suggestion_not_pending');

    // One message went out in all of this, and one pair was recorded.
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(2);
    expect(await pairsOf(convId)).toHaveLength(1);
  });

  it('sends once when two sends of one suggestion race', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'only once' })).body;
    const results = await Promise.all([send(convId, s.id), send(convId, s.id), send(convId, s.id, { text: 'edited' })]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(2);
    expect(await pairsOf(convId)).toHaveLength(1);
  });

  it('replays a retried send under one Idempotency-Key without sending again', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'idempotent' })).body;
    const key = { 'idempotency-key': `send-${s.id}` };
    const a = await send(convId, s.id, {}, key);
    const b = await send(convId, s.id, {}, key);
    expect(b.status).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body.message.id).toBe(a.body.message.id);
    expect((await h.request('GET', `/v1/conversations/${convId}`)).body.message_count).toBe(2);
  });

  it('sends a suggestion while the relay is down: the reply waits in the outbound queue and the draft is sent', async () => {
    const idn = await identityWithMailbox(h, 'relay@shop.test', 'relay');
    const convId = await conversation('relay@shop.test');
    const s = (await suggest(convId, { text: 'Through a broken relay.' })).body;
    const down = await freePort();
    expect((await h.request('PATCH', `/v1/mailboxes/${idn.mailboxId}`, { smtp: { host: '127.0.0.1', port: down } })).status).toBe(200);

    const res = await send(convId, s.id, { text: 'Through a broken relay, edited.' });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({ status: 'queued', text: 'Through a broken relay, edited.' });
    expect(res.body.suggestion).toMatchObject({ status: 'sent', edited: true, sent_message_id: res.body.message.id });
    expect(await pairsOf(convId)).toHaveLength(1);
    const queue = (await h.request('GET', '/v1/outbound?status=queued')).body.data;
    expect(queue.map((e: any) => e.message_id)).toContain(res.body.message.id);
  });

  it('leaves the suggestion pending when the send cannot start (409 sender_disconnected: its mailbox was deleted)', async () => {
    const idn = await identityWithMailbox(h, 'gone@shop.test', 'gone');
    const convId = await conversation('gone@shop.test');
    const s = (await suggest(convId, { text: 'from nowhere' })).body;
    expect((await h.request('DELETE', `/v1/mailboxes/${idn.mailboxId}`)).status).toBeLessThan(300);
    const res = await send(convId, s.id);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('sender_disconnected');
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body.status).toBe('pending');
    expect((await timeline(convId)).map((e) => e.type)).toEqual(['message', 'suggestion_created']);
  });

  it('shows a send in flight as sending, and a claim left by a dead process as pending again', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'claimed' })).body;
    await h.store.db.updateTable('suggestions').set({ status: 'sending', updated_at: new Date().toISOString() }).where('id', '=', s.id).execute();
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body.status).toBe('sending');
    const busy = await dismiss(convId, s.id);
    expect(busy.status).toBe(409);
    expect(busy.body.detail).toContain('being sent');
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?status=pending`)).body.data).toEqual([]);
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?status=sending`)).body.data).toHaveLength(1);

    const longAgo = new Date(Date.now() - 6 * 60 * 1000).toISOString();
    await h.store.db.updateTable('suggestions').set({ updated_at: longAgo }).where('id', '=', s.id).execute();
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body.status).toBe('pending');
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions?status=pending`)).body.data).toHaveLength(1);
    expect((await send(convId, s.id)).body.suggestion.status).toBe('sent');
  });
});

describe('a plain reply while a suggestion is pending', () => {
  it('answers the newest pending suggestion: sent, edited when the text differs, with a training pair', async () => {
    const convId = await conversation();
    const older = (await suggest(convId, { text: 'older draft' })).body;
    const newer = (await suggest(convId, { text: 'newer draft', model: 'm2' })).body;
    const reply = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'My own words.' });
    expect(reply.status).toBe(202);
    const settled = (await h.request('GET', `/v1/conversations/${convId}/suggestions/${newer.id}`)).body;
    expect(settled).toMatchObject({ status: 'sent', sent_message_id: reply.body.message.id, sent_text: 'My own words.', edited: true });
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${older.id}`)).body.status).toBe('pending');
    expect((await timeline(convId)).at(-1)).toMatchObject({
      type: 'suggestion_sent', data: { suggestion_id: newer.id, message_id: reply.body.message.id, edited: true, text: 'My own words.' },
    });
    expect(await pairsOf(convId)).toEqual([expect.objectContaining({
      suggestion_id: newer.id, message_id: reply.body.message.id, draft: 'newer draft', sent_text: 'My own words.', edited: true, model: 'm2',
    })]);

    // Typing the draft out word for word is an unedited send.
    const copy = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'older draft' });
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${older.id}`)).body).toMatchObject({
      status: 'sent', edited: false, sent_message_id: copy.body.message.id,
    });
    // With nothing pending, a reply records nothing.
    await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'And one more thing.' });
    expect(await pairsOf(convId)).toHaveLength(2);
  });

  it('settles the pending suggestion with a reply queued while the relay is down (the reply is committed)', async () => {
    const idn = await identityWithMailbox(h, 'relay2@shop.test', 'relay2');
    const convId = await conversation('relay2@shop.test');
    const s = (await suggest(convId, { text: 'draft' })).body;
    await h.request('PATCH', `/v1/mailboxes/${idn.mailboxId}`, { smtp: { host: '127.0.0.1', port: await freePort() } });
    const reply = await h.request('POST', `/v1/conversations/${convId}/messages`, { text: 'mine' });
    expect(reply.status).toBe(202);
    expect(reply.body.message.status).toBe('queued');
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions/${s.id}`)).body).toMatchObject({ status: 'sent', sent_message_id: reply.body.message.id });
    expect(await pairsOf(convId)).toHaveLength(1);
  });
});

describe('training pairs export', () => {
  let convA: string;
  let convB: string;
  beforeAll(async () => {
    convA = await conversation();
    convB = await conversation();
    for (let i = 0; i < 4; i++) {
      for (const conv of [convA, convB]) {
        const s = (await suggest(conv, { text: `draft ${i}`, model: 'm' })).body;
        expect((await send(conv, s.id, i % 2 ? { text: `edited ${i} "quoted"\nsecond line` } : {})).status).toBe(201);
      }
    }
  });

  async function allPages(query: string, limit: number, headers?: Record<string, string>): Promise<any[]> {
    const out: any[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/v1/training_pairs?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`, undefined, headers);
      expect(res.status).toBe(200);
      out.push(...res.body.data);
      cursor = res.body.next_cursor;
    } while (cursor);
    return out;
  }

  async function jsonLines(query: string, headers: Record<string, string> = {}): Promise<{ contentType: string; rows: any[]; body: string }> {
    const res = await h.app.inject({ url: `/v1/training_pairs?${query}`, headers: { authorization: `Bearer ${h.key}`, ...headers } });
    expect(res.statusCode).toBe(200);
    expect(res.body === '' || res.body.endsWith('\n')).toBe(true);
    const rows = res.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    return { contentType: String(res.headers['content-type']), rows, body: res.body };
  }

  it('pages oldest first, and the JSON Lines export equals the pages, line by line', async () => {
    const pages = await allPages('', 3);
    expect(pages.length).toBeGreaterThanOrEqual(8);
    expect(new Set(pages.map((p) => p.id)).size).toBe(pages.length);
    expect(pages.map((p) => p.id)).toEqual([...pages.map((p) => p.id)].sort());

    const byFormat = await jsonLines('format=jsonl');
    expect(byFormat.contentType).toMatch(/^application\/x-ndjson/);
    expect(byFormat.rows).toEqual(pages);
    expect(byFormat.body.split('\n').length).toBe(pages.length + 1);
    const byAccept = await jsonLines('', { accept: 'application/x-ndjson' });
    expect(byAccept.rows).toEqual(pages);
    // `limit` does not cut the export short.
    expect((await jsonLines('format=jsonl&limit=1')).rows).toEqual(pages);
  });

  it('negotiates JSON unless JSON Lines is preferred', async () => {
    for (const [accept, lines] of [
      ['application/json', false], ['*/*', false], ['application/json, application/x-ndjson;q=0.5', false],
      ['application/x-ndjson;q=0.9, application/json;q=0.8', true], ['application/jsonl', true], ['application/x-ndjson;q=0', false],
    ] as const) {
      const res = await h.app.inject({ url: '/v1/training_pairs?limit=1', headers: { authorization: `Bearer ${h.key}`, accept } });
      expect(res.statusCode, accept).toBe(200);
      expect(String(res.headers['content-type']).startsWith('application/x-ndjson'), accept).toBe(lines);
    }
    const explicit = await h.app.inject({ url: '/v1/training_pairs?limit=1&format=json', headers: { authorization: `Bearer ${h.key}`, accept: 'application/x-ndjson' } });
    expect(explicit.json().data).toHaveLength(1);
  });

  it('filters by conversation and by time, in both forms', async () => {
    const a = await allPages(`&conversation_id=${convA}`, 2);
    expect(a).toHaveLength(4);
    expect(a.every((p) => p.conversation_id === convA)).toBe(true);
    expect(a.map((p) => p.draft)).toEqual(['draft 0', 'draft 1', 'draft 2', 'draft 3']);
    expect(a.map((p) => p.edited)).toEqual([false, true, false, true]);
    expect(a[1].sent_text).toBe('edited 1 "quoted"\nsecond line');
    expect((await jsonLines(`format=jsonl&conversation_id=${convA}`)).rows).toEqual(a);

    const since = a[2].created_at;
    const recent = await allPages(`&since=${encodeURIComponent(since)}&conversation_id=${convA}`, 50);
    expect(recent.map((p) => p.id)).toEqual(a.filter((p) => p.created_at >= since).map((p) => p.id));
    expect((await allPages(`&since=${encodeURIComponent('2999-01-01T00:00:00Z')}`, 50))).toEqual([]);
    expect((await jsonLines('format=jsonl&conversation_id=nope')).rows).toEqual([]);
    expect((await h.request('GET', '/v1/training_pairs?conversation_id=nope')).body).toEqual({ data: [], next_cursor: null, has_more: false });
    expect((await h.request('GET', '/v1/training_pairs?since=yesterday')).body.code).toBe('validation_failed');
    expect((await h.request('GET', '/v1/training_pairs?format=csv')).body.code).toBe('validation_failed');
    expect((await h.request('GET', '/v1/training_pairs?cursor=abc')).body.code).toBe('validation_failed');
  });

  it('streams more pairs than one read batch', async () => {
    const conv = await conversation();
    const s = (await suggest(conv, { text: 'seed' })).body;
    const seed = (await send(conv, s.id)).body;
    // Copies of one pair, written directly: the export reads them 500 at a time.
    const base = (await h.store.db.selectFrom('training_pairs').selectAll().where('suggestion_id', '=', s.id).executeTakeFirstOrThrow());
    const { newId } = await import('../../src/ids.js');
    const rows = Array.from({ length: 1_203 }, (_, i) => ({ ...base, id: newId('tp'), draft: `copy ${i}` }));
    for (let i = 0; i < rows.length; i += 200) await h.store.db.insertInto('training_pairs').values(rows.slice(i, i + 200)).execute();
    const all = await jsonLines(`format=jsonl&conversation_id=${conv}`);
    expect(all.rows).toHaveLength(1_204);
    expect(new Set(all.rows.map((r) => r.id)).size).toBe(1_204);
    expect(all.rows.every((r) => r.message_id === seed.message.id)).toBe(true);
  });
});

describe('isolation and permissions', () => {
  it('hides suggestions and pairs from another organization (404, empty export)', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'private' })).body;
    await send(convId, s.id);
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    for (const [method, url, body] of [
      ['POST', `/v1/conversations/${convId}/suggestions`, { text: 'x' }],
      ['GET', `/v1/conversations/${convId}/suggestions`, undefined],
      ['GET', `/v1/conversations/${convId}/suggestions/${s.id}`, undefined],
      ['POST', `/v1/conversations/${convId}/suggestions/${s.id}/send`, {}],
      ['POST', `/v1/conversations/${convId}/suggestions/${s.id}/dismiss`, {}],
    ] as const) {
      const res = await h.request(method, url, body, other);
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    expect((await h.request('GET', '/v1/training_pairs', undefined, other)).body.data).toEqual([]);
    expect((await h.request('GET', `/v1/training_pairs?conversation_id=${convId}`, undefined, other)).body.data).toEqual([]);
    const lines = await h.app.inject({ url: '/v1/training_pairs?format=jsonl', headers: other });
    expect(lines.body).toBe('');
  });

  it('limits an identity-scoped key to its identity\'s conversations and pairs', async () => {
    const mine = await identityWithMailbox(h, 'scoped@shop.test', 'scoped');
    const myConv = await conversation('scoped@shop.test');
    const theirConv = await conversation();
    const theirs = (await suggest(theirConv, { text: 'theirs' })).body;
    await send(theirConv, theirs.id);
    const scoped = await keyWith({ identityId: mine.identityId });

    for (const [method, url, body] of [
      ['POST', `/v1/conversations/${theirConv}/suggestions`, { text: 'x' }],
      ['GET', `/v1/conversations/${theirConv}/suggestions`, undefined],
      ['GET', `/v1/conversations/${theirConv}/suggestions/${theirs.id}`, undefined],
      ['POST', `/v1/conversations/${theirConv}/suggestions/${theirs.id}/send`, {}],
      ['POST', `/v1/conversations/${theirConv}/suggestions/${theirs.id}/dismiss`, {}],
    ] as const) {
      expect((await h.request(method, url, body, scoped)).status, `${method} ${url}`).toBe(404);
    }

    const s = (await suggest(myConv, { text: 'mine', agent: 'scoped-bot' }, scoped)).body;
    expect((await send(myConv, s.id, { text: 'mine, edited' }, scoped)).status).toBe(201);
    const visible = (await h.request('GET', '/v1/training_pairs?limit=200', undefined, scoped)).body.data;
    expect(visible.map((p: any) => p.conversation_id)).toEqual([myConv]);
    const lines = await h.app.inject({ url: '/v1/training_pairs?format=jsonl', headers: scoped });
    expect(lines.body.trim().split('\n').map((l) => JSON.parse(l).conversation_id)).toEqual([myConv]);
    expect((await h.request('GET', `/v1/training_pairs?conversation_id=${theirConv}`, undefined, scoped)).body.data).toEqual([]);

    // A contact rule's block hides the conversation, and its pairs, from a scoped key.
    await h.store.db.updateTable('conversations').set({ is_blocked: 1 }).where('id', '=', myConv).execute();
    expect((await h.request('GET', '/v1/training_pairs', undefined, scoped)).body.data).toEqual([]);
    expect((await h.request('GET', `/v1/conversations/${myConv}/suggestions`, undefined, scoped)).status).toBe(404);
    await h.store.db.updateTable('conversations').set({ is_blocked: 0 }).where('id', '=', myConv).execute();
  });

  it('checks each route\'s permission', async () => {
    const convId = await conversation();
    const s = (await suggest(convId, { text: 'perm' })).body;
    const readOnly = await keyWith({ permissions: ['conversations:read'] });
    for (const [method, url, body, permission] of [
      ['POST', `/v1/conversations/${convId}/suggestions`, { text: 'x' }, 'suggestions:write'],
      ['POST', `/v1/conversations/${convId}/suggestions/${s.id}/send`, {}, 'messages:send'],
      ['POST', `/v1/conversations/${convId}/suggestions/${s.id}/dismiss`, {}, 'suggestions:write'],
      ['GET', '/v1/training_pairs', undefined, 'training_pairs:read'],
    ] as const) {
      const res = await h.request(method, url, body, readOnly);
      expect(res.status, url).toBe(403);
      expect(res.body.code).toBe('missing_permission');
      expect(res.body.detail).toContain(permission);
    }
    expect((await h.request('GET', `/v1/conversations/${convId}/suggestions`, undefined, readOnly)).status).toBe(200);
    // Sending a suggestion needs messages:send, not suggestions:write.
    const sender = await keyWith({ permissions: ['messages:send'] });
    expect((await send(convId, s.id, {}, sender)).status).toBe(201);
  });
});
