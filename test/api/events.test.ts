/**
 * The change feed `GET /v1/events?after=<seq>`: every event of the organization once, in
 * commit order, whatever the page size; filters; resuming; isolation; bad input.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, identityWithMailbox, inbound, rawEmail, type Harness } from '../helpers.js';

let h: Harness;
let convA: string;
let convB: string;
beforeAll(async () => {
  h = await harness();
  await identityWithMailbox(h, 'feed@shop.test', 'feed');
  const a = await inbound(h, rawEmail({ from: 'a@x.test', to: 'feed@shop.test', messageId: 'fa1@x.test' }));
  const b = await inbound(h, rawEmail({ from: 'b@x.test', to: 'feed@shop.test', messageId: 'fb1@x.test' }));
  convA = a.body.results[0].conversation_id;
  convB = b.body.results[0].conversation_id;
  await h.request('POST', `/v1/conversations/${convA}/labels`, { labels: ['x', 'y'] });
  await inbound(h, rawEmail({ from: 'b@x.test', to: 'feed@shop.test', messageId: 'fb2@x.test', inReplyTo: 'fb1@x.test' }));
  await h.request('POST', `/v1/conversations/${convB}/messages`, { text: 'Thanks!' });
  await h.request('PATCH', `/v1/conversations/${convA}`, { archived: true });
  // Another organization's activity must never show.
  const other = { authorization: `Bearer ${await h.otherOrg()}` };
  const idn = (await h.request('POST', '/v1/identities', { handle: 'o' }, other)).body;
  await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'o@other.test' }, other);
  await inbound(h, rawEmail({ from: 'z@x.test', to: 'o@other.test', messageId: 'oz@x.test' }), '', other);
});
afterAll(async () => { await h.close(); });

async function readFeed(query: string, limit: number, after = 0): Promise<{ events: any[]; nextAfter: number }> {
  const events: any[] = [];
  let nextAfter = after;
  for (;;) {
    const res = await h.request('GET', `/v1/events?after=${nextAfter}&limit=${limit}${query}`);
    expect(res.status).toBe(200);
    events.push(...res.body.data);
    nextAfter = res.body.next_after;
    if (!res.body.has_more) return { events, nextAfter };
  }
}

const timelineIds = async (conv: string) => (await h.request('GET', `/v1/conversations/${conv}/events?limit=200`)).body.data.map((e: any) => e.id);

describe('change feed', () => {
  it('returns every event of the organization once, in gap-free seq order', async () => {
    const { events } = await readFeed('', 200);
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    const expected = new Set([...await timelineIds(convA), ...await timelineIds(convB)]);
    expect(new Set(events.map((e) => e.id))).toEqual(expected);
    expect(events).toHaveLength(expected.size);
  });

  it('reads the same sequence whatever the page size', async () => {
    const whole = (await readFeed('', 200)).events.map((e) => e.id);
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 7 }), async (limit) => {
      expect((await readFeed('', limit)).events.map((e) => e.id)).toEqual(whole);
    }), { numRuns: 10 });
  });

  it('filters by type and conversation', async () => {
    const labels = (await readFeed('&types=label_added', 200)).events;
    expect(labels.map((e) => e.data.label)).toEqual(['x', 'y']);
    const b = (await readFeed(`&conversation_id=${convB}`, 200)).events;
    expect(b.map((e) => e.id)).toEqual(await timelineIds(convB));
    const both = (await readFeed(`&conversation_id=${convA}&types=archived`, 200)).events;
    expect(both.map((e) => e.type)).toEqual(['archived']);
    expect((await readFeed('&conversation_id=conv_01h455vb4pex5vsknk084sn02q', 200)).events).toEqual([]);
    expect((await readFeed('&conversation_id=nonsense', 200)).events).toEqual([]);
  });

  it('resumes from next_after with exactly what was committed since', async () => {
    const { nextAfter } = await readFeed('', 200);
    const idle = await h.request('GET', `/v1/events?after=${nextAfter}`);
    expect(idle.body).toEqual({ data: [], next_after: nextAfter, has_more: false });
    await h.request('POST', `/v1/conversations/${convB}/labels`, { labels: ['later'] });
    const more = await h.request('GET', `/v1/events?after=${nextAfter}`);
    expect(more.body.data.map((e: any) => `${e.type}:${e.data.label}`)).toEqual(['label_added:later']);
    expect(more.body.next_after).toBe(nextAfter + 1);
  });

  it('answers after=latest with no event and the head as next_after, from which a poll sees only what comes next', async () => {
    const { nextAfter: head } = await readFeed('', 200);
    const latest = await h.request('GET', '/v1/events?after=latest');
    expect(latest.body).toEqual({ data: [], next_after: head, has_more: false });
    await h.request('POST', `/v1/conversations/${convA}/labels`, { labels: ['fresh'] });
    const next = await h.request('GET', `/v1/events?after=${latest.body.next_after}`);
    expect(next.body.data.map((e: any) => `${e.type}:${e.data.label}`)).toEqual(['label_added:fresh']);
    // Another organization's head is its own.
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    const theirs = await h.request('GET', '/v1/events?after=latest', undefined, other);
    expect(theirs.body.next_after).toBeLessThan(head);
    expect((await h.request('GET', '/v1/events?after=newest')).status).toBe(400);
  });

  it('answers a cursor beyond the head with 409 cursor_ahead and a fix, never an empty page', async () => {
    const { nextAfter: head } = await readFeed('', 200);
    expect((await h.request('GET', `/v1/events?after=${head}`)).status).toBe(200);
    await fc.assert(fc.asyncProperty(fc.integer({ min: head + 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('', `&conversation_id=${convA}`, '&types=note', '&conversation_id=nope'), async (after, query) => {
      const res = await h.request('GET', `/v1/events?after=${after}${query}`);
      expect(res.status).toBe(409);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'cursor_ahead', param: 'after', retryable: false });
      expect(res.body.detail).toContain(`seq ${head}`);
      expect(res.body.fix).toMatch(/after=0/);
      expect(res.body.fix).toContain(`after=${head}`);
    }), { numRuns: 25 });
    // Another organization's head is its own: this org's cursor is ahead of it.
    const other = { authorization: `Bearer ${await h.otherOrg()}` };
    expect((await h.request('GET', `/v1/events?after=${head}`, undefined, other)).body.code).toBe('cursor_ahead');
    expect((await h.request('GET', '/v1/events?after=0', undefined, other)).status).toBe(200);
  });

  it('keeps a cursor valid when the events before it are deleted with their identity', async () => {
    const idn = (await h.request('POST', '/v1/identities', { handle: 'gone' })).body;
    await h.request('POST', '/v1/mailboxes', { identity_id: idn.id, address: 'gone@shop.test' });
    await inbound(h, rawEmail({ from: 'g@x.test', to: 'gone@shop.test', messageId: 'gone1@x.test' }));
    const { nextAfter: head } = await readFeed('', 200);
    expect((await h.request('DELETE', `/v1/identities/${idn.id}`)).status).toBe(204);
    const res = await h.request('GET', `/v1/events?after=${head}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next_after: head, has_more: false });
  });

  it('refuses a bad position', async () => {
    for (const q of ['after=-1', 'after=abc', 'after=1.5', 'limit=0', 'types=nope']) {
      const res = await h.request('GET', `/v1/events?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });
});
