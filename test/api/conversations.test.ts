/**
 * Conversations through the API: threading of inbound mail, the list with its filters
 * and keyset pagination, the snapshot, timeline pages, labels and archive.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/services/tenants.js';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let identityId: string;
beforeAll(async () => {
  h = await harness();
  ({ identityId } = await identityWithMailbox(h, 'help@shop.test', 'help'));
});
afterAll(async () => { await h.close(); });

const list = async (query = '') => (await h.request('GET', `/v1/conversations${query}`)).body;

describe('threading of inbound mail', () => {
  it('puts a reply in its parent conversation and stores a duplicate once', async () => {
    const first = await inbound(h, rawEmail({ from: 'Ann <ann@buyer.test>', to: 'help@shop.test', subject: 'Order 17', messageId: 'o17@buyer.test' }));
    expect(first.status).toBe(201);
    expect(first.body.results[0]).toMatchObject({ status: 'stored' });
    const convId = first.body.results[0].conversation_id;
    const reply = await inbound(h, rawEmail({
      from: 'ann@buyer.test', to: 'help@shop.test', subject: 'Re: Order 17', messageId: 'o17-2@buyer.test',
      inReplyTo: 'o17@buyer.test', references: '<o17@buyer.test>', body: 'Any news?\n\nOn Mon, Ann wrote:\n> Order 17',
    }));
    expect(reply.body.results[0].conversation_id).toBe(convId);
    const dup = await inbound(h, rawEmail({ from: 'ann@buyer.test', to: 'help@shop.test', subject: 'Order 17', messageId: 'o17@buyer.test' }));
    expect(dup.status).toBe(200);
    expect(dup.body.results[0]).toMatchObject({ status: 'duplicate', conversation_id: convId, message_id: null });

    const snap = (await h.request('GET', `/v1/conversations/${convId}`)).body;
    expect(snap).toMatchObject({ id: convId, identity_id: identityId, subject: 'Order 17', counterpart: 'ann@buyer.test', message_count: 2 });
    expect(snap.events.map((e: any) => e.type)).toEqual(['message', 'message']);
    expect(snap.latest_message.text).toBe('Any news?');
    expect(snap.latest_message.direction).toBe('inbound');
    const messages = (await h.request('GET', `/v1/conversations/${convId}/messages`)).body.data;
    expect(messages.map((m: any) => m.headers)).toEqual([
      { message_id: 'o17@buyer.test', in_reply_to: null, references: [] },
      { message_id: 'o17-2@buyer.test', in_reply_to: 'o17@buyer.test', references: ['o17@buyer.test'] },
    ]);
    expect(messages[1].snippet).toBe('Any news?');
    expect(messages[0].from).toEqual({ address: 'ann@buyer.test', name: 'Ann' });
    const one = await h.request('GET', `/v1/messages/${messages[1].id}`);
    expect(one.body).toEqual(messages[1]);
    const raw = await h.app.inject({ url: `/v1/messages/${messages[1].id}/raw`, headers: { authorization: `Bearer ${h.key}` } });
    expect(raw.headers['content-type']).toMatch(/^message\/rfc822/);
    expect(raw.body).toContain('Message-ID: <o17-2@buyer.test>');
  });

  it('does not thread by subject unless asked to', async () => {
    const a = await inbound(h, rawEmail({ from: 'bob@buyer.test', to: 'help@shop.test', subject: 'Refund', messageId: 'r1@buyer.test' }));
    const b = await inbound(h, rawEmail({ from: 'bob@buyer.test', to: 'help@shop.test', subject: 'Re: Refund', messageId: 'r2@buyer.test' }));
    expect(b.body.results[0].conversation_id).not.toBe(a.body.results[0].conversation_id);
  });
});

describe('list filters', () => {
  it('filters by participant, domain, identity and archive state', async () => {
    const other = await identityWithMailbox(h, 'billing@shop.test', 'billing');
    await inbound(h, rawEmail({ from: 'dee@mail.corp.test', to: 'billing@shop.test', messageId: 'f1@corp.test' }));
    await inbound(h, rawEmail({ from: 'eve@corp.test', to: 'help@shop.test', messageId: 'f2@corp.test' }));
    await inbound(h, rawEmail({ from: 'fay@notcorp.test', to: 'help@shop.test', messageId: 'f3@notcorp.test' }));

    const counterparts = (body: any) => body.data.map((c: any) => c.counterpart).sort();
    expect(counterparts(await list('?with=DEE@mail.corp.test'))).toEqual(['dee@mail.corp.test']);
    expect(counterparts(await list('?with_domain=corp.test'))).toEqual(['dee@mail.corp.test', 'eve@corp.test']);
    expect(counterparts(await list(`?identity_id=${other.identityId}`))).toEqual(['dee@mail.corp.test']);
    const all = await list(`?identity_id=${identityId}&limit=200`);
    expect(all.data.every((c: any) => c.identity_id === identityId)).toBe(true);

    const eve = (await list('?with=eve@corp.test')).data[0];
    const archived = await h.request('POST', `/v1/conversations/${eve.id}/archive`, { archived: true });
    expect(archived.body.archived).toBe(true);
    expect(counterparts(await list('?with_domain=corp.test&archived=false'))).toEqual(['dee@mail.corp.test']);
    expect(counterparts(await list('?archived=true'))).toEqual(['eve@corp.test']);
    const events = (await h.request('GET', `/v1/conversations/${eve.id}/events?types=archived`)).body.data;
    expect(events).toHaveLength(1);
  });

  it('keeps since/until consistent with last_event_at', async () => {
    const all = (await list('?limit=200')).data;
    const times = all.map((c: any) => c.last_event_at).sort();
    const pivot = times[Math.floor(times.length / 2)];
    const since = (await list(`?since=${pivot}&limit=200`)).data;
    const until = (await list(`?until=${pivot}&limit=200`)).data;
    expect(since.every((c: any) => c.last_event_at >= pivot)).toBe(true);
    expect(until.every((c: any) => c.last_event_at < pivot)).toBe(true);
    expect(since.length + until.length).toBe(all.length);
    expect((await h.request('GET', '/v1/conversations?since=yesterday')).status).toBe(400);
  });
});

describe('keyset pagination', () => {
  it('returns every conversation exactly once, newest first, whatever the page size', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 6 }), async (count, limit) => {
      const { apiKey } = await createOrganization(h.store, 'paging');
      const auth = { authorization: `Bearer ${apiKey.key}` };
      const idn = (await h.request('POST', '/v1/identities', { handle: 'p' }, auth)).body;
      const address = `p-${idn.id}@paging.test`;
      await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address }, auth);
      for (let i = 0; i < count; i++) {
        await inbound(h, rawEmail({ from: `c${i}@x.test`, to: address, messageId: `${idn.id}-${i}@x.test` }), '', auth);
      }
      const seen: any[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: any = await h.request('GET', `/v1/conversations?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, auth);
        expect(res.status).toBe(200);
        seen.push(...res.body.data);
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor);
      expect(seen).toHaveLength(count);
      expect(new Set(seen.map((c) => c.id)).size).toBe(count);
      expect(pages).toBe(Math.max(1, Math.ceil(count / limit)));
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1], seen[i]];
        expect(a.last_event_at > b.last_event_at || (a.last_event_at === b.last_event_at && a.id > b.id)).toBe(true);
      }
    }), { numRuns: 15 });
  });

  it('pages the timeline in both orders', async () => {
    const first = await inbound(h, rawEmail({ from: 'gil@buyer.test', to: 'help@shop.test', messageId: 't0@buyer.test' }));
    const convId = first.body.results[0].conversation_id;
    for (let i = 1; i < 5; i++) {
      await inbound(h, rawEmail({ from: 'gil@buyer.test', to: 'help@shop.test', messageId: `t${i}@buyer.test`, inReplyTo: `t${i - 1}@buyer.test` }));
    }
    await h.request('POST', `/v1/conversations/${convId}/labels`, { labels: ['vip'] });
    const walk = async (path: string) => {
      const out: any[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await h.request('GET', `${path}${path.includes('?') ? '&' : '?'}limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        out.push(...res.body.data);
        cursor = res.body.next_cursor;
      } while (cursor);
      return out;
    };
    const asc = await walk(`/v1/conversations/${convId}/events`);
    const desc = await walk(`/v1/conversations/${convId}/events?order=desc`);
    expect(asc.map((e) => e.type)).toEqual(['message', 'message', 'message', 'message', 'message', 'label_added']);
    expect(desc.map((e) => e.id)).toEqual(asc.map((e) => e.id).reverse());
    const msgs = await walk(`/v1/conversations/${convId}/messages`);
    expect(msgs.map((m) => m.headers.message_id)).toEqual(['t0', 't1', 't2', 't3', 't4'].map((t) => `${t}@buyer.test`));
  });
});

describe('resuming a timeline', () => {
  it('gives the last page of an oldest-first read a cursor that returns only what is appended later', async () => {
    const res = await inbound(h, rawEmail({ from: 'ron@buyer.test', to: 'help@shop.test', messageId: 'res1@buyer.test' }));
    const id = res.body.results[0].conversation_id;
    const first = (await h.request('GET', `/v1/conversations/${id}/events?limit=10`)).body;
    expect(first.has_more).toBe(false);
    expect(first.next_cursor).toEqual(expect.any(String));
    const empty = (await h.request('GET', `/v1/conversations/${id}/events?cursor=${encodeURIComponent(first.next_cursor)}`)).body;
    expect(empty).toEqual({ data: [], next_cursor: null, has_more: false });
    await h.request('POST', `/v1/conversations/${id}/labels`, { labels: ['later'] });
    const later = (await h.request('GET', `/v1/conversations/${id}/events?cursor=${encodeURIComponent(first.next_cursor)}`)).body;
    expect(later.data.map((e: any) => `${e.type}:${e.data.label}`)).toEqual(['label_added:later']);
    const newestFirst = (await h.request('GET', `/v1/conversations/${id}/events?order=desc&limit=10`)).body;
    expect(newestFirst.next_cursor).toBeNull();
  });
});

describe('labels and archive', () => {
  it('adds, removes and replaces labels as events, idempotently', async () => {
    const res = await inbound(h, rawEmail({ from: 'hal@buyer.test', to: 'help@shop.test', messageId: 'l1@buyer.test' }));
    const id = res.body.results[0].conversation_id;
    const added = await h.request('POST', `/v1/conversations/${id}/labels`, { labels: ['b', 'a', 'a'] });
    expect([...added.body.labels].sort()).toEqual(['a', 'b']);
    await h.request('POST', `/v1/conversations/${id}/labels`, { labels: ['a'] });
    const removed = await h.request('DELETE', `/v1/conversations/${id}/labels?label=b&label=zzz`);
    expect(removed.body.labels).toEqual(['a']);
    const replaced = await h.request('PATCH', `/v1/conversations/${id}`, { labels: ['c'], archived: true });
    expect(replaced.body).toMatchObject({ labels: ['c'], archived: true });
    const types = (await h.request('GET', `/v1/conversations/${id}/events?types=label_added&types=label_removed&types=archived`)).body.data
      .map((e: any) => `${e.type}:${e.data.label ?? ''}`);
    expect(types.sort()).toEqual(['archived:', 'label_added:a', 'label_added:b', 'label_added:c', 'label_removed:a', 'label_removed:b'].sort());
    const none = await h.request('PATCH', `/v1/conversations/${id}`, {});
    expect(none.body.code).toBe('no_valid_fields');
    const coerced = await h.request('PATCH', `/v1/conversations/${id}`, { archived: 'false' });
    expect(coerced.status).toBe(400);
  });

  it('brings an archived conversation back when new mail arrives', async () => {
    const res = await inbound(h, rawEmail({ from: 'ivy@buyer.test', to: 'help@shop.test', messageId: 'a1@buyer.test' }));
    const id = res.body.results[0].conversation_id;
    await h.request('POST', `/v1/conversations/${id}/archive`, { archived: true });
    await inbound(h, rawEmail({ from: 'ivy@buyer.test', to: 'help@shop.test', messageId: 'a2@buyer.test', inReplyTo: 'a1@buyer.test' }));
    const snap = (await h.request('GET', `/v1/conversations/${id}`)).body;
    expect(snap.message_count).toBe(2);
    expect(snap.archived).toBe(false);
    expect(snap.events.map((e: any) => e.type)).toEqual(['message', 'archived', 'message', 'unarchived']);
  });
});
